"""A finished dabench run as the pretrained network of a new run (``model.init_from``).

Task adaptation starts from pretrained weights: a backbone's own (EfficientNet-Lite0's ImageNet
weights, MiniLM, torchvision/timm files) or a run that dabench trained itself, given as its folder
(a cell of a results store, a ``dabench train --out``) or its ``checkpoint.pt``. The run must be
finished; its backbone and bottleneck are loaded (``weights_only=True``), the classifier is new, and
the run's own classifier is kept beside the model as ``pretrained_head`` for the methods that train
the old task's head too (LwF, Co-Tuning). The new run's config records the cell's config hash.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from dabench.errors import DabenchError
from dabench.io import DamagedFile, load_checkpoint, read_json
from dabench.models.model import Model, build_model

KEY = "model.init_from"


def run_folder(init_from: str | Path) -> Path:
    """The folder of the run `init_from` names (the folder itself, or the folder of its checkpoint.pt)."""
    path = Path(init_from).expanduser()
    folder = path.parent if path.is_file() else path
    if not folder.is_dir():
        raise DabenchError(f"{KEY}: {init_from} does not exist; give a finished run's folder or its checkpoint.pt")
    return folder.resolve()


def pretrained_run(init_from: str | Path, backbone: dict) -> dict:
    """{"init_from": the run's absolute folder, "init_from_id": "cell:<its config hash>"} after checking that the
    run finished, holds a checkpoint and used the same backbone as `backbone` (this run's resolved spec)."""
    folder = run_folder(init_from)
    if (folder / "failed.json").exists():
        raise DabenchError(f"{KEY}: the run in {folder} failed (failed.json); start from a finished run")
    if not (folder / "result.json").exists():
        raise DabenchError(f"{KEY}: the run in {folder} is not finished (no result.json); finish it first "
                           f"(`dabench bench` or `dabench train --resume`) or start from another")
    try:
        result = read_json(folder / "result.json")
    except DamagedFile as damaged:
        raise DabenchError(f"{KEY}: {damaged.path} is damaged ({damaged.problem}); start from another run") from None
    if not (folder / "checkpoint.pt").exists():
        raise DabenchError(f"{KEY}: {folder} holds no checkpoint.pt; start from a run whose checkpoint is kept")
    theirs = {k: v for k, v in result["config"]["model"]["backbone"].items() if k != "weights"}
    ours = {k: v for k, v in backbone.items() if k != "weights"}
    if theirs != ours:
        raise DabenchError(f"{KEY}: the run in {folder} trained backbone {theirs}, this run builds {ours}; set "
                           f"model.backbone to the run's so that its weights fit")
    return {"init_from": str(folder), "init_from_id": f"cell:{result['config_hash']}"}


def load_pretrained(model: nn.Module, init_from: str | Path, input_shape: tuple[int, ...]) -> nn.Module | None:
    """Load the backbone and bottleneck of the run in `init_from` into `model` (a dabench Model); returns the run's
    classifier over backbone features, (N, backbone.feature_dim) -> (N, C_old), or None when it cannot be rebuilt
    as a plain classifier (a method replaced it, e.g. MME's cosine classifier)."""
    folder = run_folder(init_from)
    try:
        weights = load_checkpoint(folder / "checkpoint.pt")["method"]
    except (DamagedFile, KeyError) as err:
        problem = err.problem if isinstance(err, DamagedFile) else "no 'method' entry"
        raise DabenchError(f"{KEY}: {folder / 'checkpoint.pt'} is not a loadable dabench checkpoint ({problem}); "
                           f"start from another run") from None
    config = read_json(folder / "result.json")["config"]["model"]
    state = {k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")}
    for part in ("backbone", "bottleneck"):
        own = {k[len(part) + 1:]: v for k, v in state.items() if k.startswith(part + ".")}
        try:
            getattr(model, part).load_state_dict(own)
        except RuntimeError as err:
            first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err))
            raise DabenchError(f"{KEY}: the {part} of the run in {folder} does not fit this run's ({first[:200]}); "
                               f"use the run's model section (backbone, bottleneck_dim, input size)") from None
    head = {k[len("classifier."):]: v for k, v in state.items() if k.startswith("classifier.")}
    old_classes = next((v.shape[0] for k, v in reversed(head.items()) if k.endswith("weight")), 0)
    spec = {k: v for k, v in config.items() if k not in ("init_from", "init_from_id", "freeze")}
    try:
        old = build_model(**{**spec, "backbone": {**spec["backbone"], **({"weights": None} if "weights" in
                                                                        spec["backbone"] else {})}},
                          input_shape=input_shape, num_classes=old_classes)
        old.classifier.load_state_dict(head)
    except (RuntimeError, DabenchError):
        return None
    old.bottleneck.load_state_dict(model.bottleneck.state_dict())
    return nn.Sequential(old.bottleneck, old.classifier)


def build_from_config(model: dict, input_shape: tuple[int, ...], num_classes: int) -> Model:
    """The Model of a config's resolved ``model`` section: ``build_model``, then, with ``init_from``, the run's
    backbone and bottleneck weights, its classifier as ``pretrained_head`` and both parts as pretrained."""
    init_from = model.get("init_from")
    built = build_model(**{k: v for k, v in model.items() if k not in ("init_from", "init_from_id")},
                        input_shape=input_shape, num_classes=num_classes)
    if init_from is not None:
        built.__dict__["pretrained_head"] = load_pretrained(built, init_from, tuple(input_shape))
        built.pretrained_parts = ("backbone", "bottleneck")
    return built
