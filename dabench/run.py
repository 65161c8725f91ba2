"""One training run: resolved config -> data -> model -> method -> Trainer -> result.json.

``train(cfg, out)`` is what ``dabench train`` calls. A finished run is never recomputed:
if ``out/result.json`` holds the same resolved config it is returned as is; an
interrupted run (a checkpoint without a result) continues only when asked to resume.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from dabench.config import resolve
from dabench.config_files import apply_overrides, merge
from dabench.data.base import DATASETS, DomainDataset, cache_dir, make_cache_folder
from dabench.data.loaders import NO_SOURCE, TransferData, source_domains
from dabench.errors import DabenchError, NonFiniteLoss
from dabench.io import DamagedFile, load_checkpoint, make_folder, read_json, set_aside, write_json_atomic
from dabench.log import Loggers, make_logger
from dabench.methods.base import METHODS, Method
from dabench.models.model import Model
from dabench.models.pretrained import build_from_config
from dabench.provenance import git_commit, provenance
from dabench.schema import Optim
from dabench.trainer import Trainer, start


class RunFailed(DabenchError):
    """The run diverged (non-finite loss); its folder holds failed.json with the error."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def source_stage_config(cfg: dict, stage: dict) -> dict:
    """The first-stage run of `cfg`: source only, on the source domains alone, so every target shares it.

    The target is set to the (first) source (its test split then scores the source model), no
    target labels are used and nothing is logged to wandb; `stage` overrides the rest.
    """
    first = merge({k: v for k, v in cfg.items() if k != "logging"},
                  {"target": source_domains(cfg["source"])[0], "target_labeled": 0, "target_classes": None})
    return resolve(apply_overrides(first, stage), same_domain=True)


def train_source_stage(cfg: dict, stage: dict, input_shape: tuple[int, ...], num_classes: int) -> tuple[Model, dict]:
    """Train (or reuse from the cache) the first stage of `cfg`; returns its model and a summary.

    `input_shape` and `num_classes` are the run's: the stage reads the same dataset.
    """
    first = source_stage_config(cfg, stage)
    out = make_cache_folder(cache_dir() / "source_models" /
                            f"{first['dataset']['name']}-{first['source']}-{first.hash}")
    with FileLock(str(out / "lock")):  # parallel cells of a grid train it once
        result = train(first, out, resume=True, same_domain=True)
        try:
            weights = load_checkpoint(out / "checkpoint.pt")["method"]
        except DamagedFile as damaged:  # the cached model is gone: train the stage again
            set_aside(damaged.path, damaged.problem)
            (out / "result.json").unlink()
            result = train(first, out, resume=True, same_domain=True)
            weights = load_checkpoint(out / "checkpoint.pt")["method"]
    model = build_from_config(first["model"], input_shape, num_classes)
    model.load_state_dict({k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")})
    return model, {"path": str(out), "config_hash": result["config_hash"], "method": first["method"],
                   "model": first["model"], "steps": result["steps"],
                   "source_test_accuracy": result["target_accuracy"]}


@dataclass
class Run:
    """A run's parts, built from a resolved config in one order: seed, trainer, dataset, data,
    model, method, then the method's first stage (trained or taken from the cache).

    ``Run.build(cfg)`` for training (``train`` calls it); ``Run.restore(folder)`` for a trained
    run to evaluate or draw: the same build, then ``trainer.start`` with its checkpoint, the
    order Trainer.fit uses, so any method (SHOT's memory included) comes back whole.
    """

    cfg: dict
    trainer: Trainer
    dataset: DomainDataset
    data: TransferData
    method: Method
    source_stage: dict | None  # the first stage's summary (path, config hash, steps, accuracy), or None

    @classmethod
    def build(cls, cfg: dict) -> Run:
        seed_everything(cfg["seed"])
        trainer = Trainer(**cfg["trainer"], optim=Optim(**cfg["optim"]))
        dataset = DATASETS.build(cfg["dataset"], root=cfg["data_root"])
        data = TransferData(dataset, cfg["source"], cfg["target"], cfg["val_fraction"], trainer.device,
                            cfg["target_labeled"], cfg["target_classes"], cfg["source_classes"],
                            cfg["unknown_threshold"], cfg["unseen_target"], cfg["target_label_fraction"],
                            cfg["seed"] if label_draw(cfg) == "per_seed" else 0)
        model = build_from_config(cfg["model"], data.input_shape, data.num_classes)
        method = METHODS.build(cfg["method"])
        method.num_sources = len(data.source_domains)
        method.build(model, data.num_classes, trainer.steps)
        summary, stage = None, method.source_stage()
        if stage is not None:
            source_model, summary = train_source_stage(cfg, stage, data.input_shape, data.num_classes)
            seed_everything(cfg["seed"])  # the same RNG state whether the stage was trained now or cached
            method.start_from(source_model)
        return cls(cfg, trainer, dataset, data, method, summary)

    @classmethod
    def restore(cls, folder: str | Path, device: str = "cpu") -> Run:
        """The trained run in `folder` (a `dabench train --out` or a benchmark cell), in eval mode on `device`."""
        folder = Path(folder)
        cfg = read_json(folder / "cell.json") if (folder / "cell.json").exists() else read_json(
            folder / "result.json")["config"]
        run = cls.build(merge(cfg, {"trainer": {"device": device}}))
        start(run.method, run.data, run.trainer.device, load_checkpoint(folder / "checkpoint.pt"))
        run.method.eval()
        return run


def label_draw(cfg: dict) -> str:
    """How the run's labeled target samples are drawn: the config's target_labeled_draw, else the setting's default
    (per_seed in task adaptation, fixed, i.e. seed 0, in semi-supervised DA, as before the key existed)."""
    return cfg["target_labeled_draw"] or ("per_seed" if cfg["source"] == NO_SOURCE else "fixed")


def init_from_summary(model: dict) -> dict | None:
    """Provenance of the run a model started from (model.init_from): its folder, config hash, method and pair."""
    if model["init_from"] is None:
        return None
    done = read_json(Path(model["init_from"]) / "result.json")
    return {"path": model["init_from"], "config_hash": done["config_hash"],
            **{key: done[key] for key in ("method", "dataset", "source", "target", "seed", "steps")}}


def build(cfg: dict) -> tuple[Trainer, DomainDataset, TransferData, Method]:
    """(trainer, dataset, data, method) of a resolved config: ``Run.build`` unpacked, for tests and scripts."""
    run = Run.build(cfg)
    return run.trainer, run.dataset, run.data, run.method


def recorded_outcome(out: Path, cfg_hash: str, set_aside_foreign: bool = False) -> dict | None:
    """out/result.json (status "finished") or out/failed.json (status "failed") if it records the run of
    `cfg_hash`, else None. A damaged file is set aside; another config's run is an error, or set
    aside too with `set_aside_foreign` (a store's cell folder is named by its config hash)."""
    for name, status in (("result.json", "finished"), ("failed.json", "failed")):
        path = out / name
        if not path.exists():
            continue
        try:
            done = read_json(path)
        except DamagedFile as damaged:
            set_aside(damaged.path, damaged.problem)
            continue
        if done.get("config_hash") != cfg_hash:
            if not set_aside_foreign:
                raise DabenchError(f"{out} holds a finished run with a different config; choose another --out or "
                                   f"delete it")
            set_aside(path, f"holds the run of config {done.get('config_hash')}, not {cfg_hash}")
            continue
        return {**done, "status": status}
    return None


def resume_state(out: Path, cfg_hash: str, resume: bool) -> dict | None:
    """The checkpoint to continue from: None for a fresh start, including when it is damaged."""
    checkpoint_path = out / "checkpoint.pt"
    if not checkpoint_path.exists():
        return None
    if not resume:
        raise DabenchError(f"{out} holds an interrupted run; pass --resume to continue it, or choose another --out")
    try:
        state = load_checkpoint(checkpoint_path)
    except DamagedFile as damaged:
        set_aside(damaged.path, damaged.problem)
        return None
    if state.get("config_hash") != cfg_hash:
        raise DabenchError(f"{checkpoint_path} was made with a different config; resume with the same config")
    return state


def train(cfg: dict, out: str | Path, resume: bool = False, progress_bar: bool = False,
          same_domain: bool = False) -> dict:
    """Run (or resume, or return the finished) training run of `cfg` in folder `out`; returns result.json's content.

    Raises RunFailed, after writing out/failed.json, if the loss becomes non-finite.
    """
    git_commit()  # before training: the commit of the code this process imported
    cfg = resolve(cfg, same_domain)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DabenchError(f"--out {out} is a file; give a folder for the run")
    done = recorded_outcome(out, cfg.hash)
    if done is not None and done["status"] == "failed":  # rerunning a diverged run diverges again
        raise RunFailed(f"{done['error']} (recorded in {out / 'failed.json'}; delete it to try again)")
    if done is not None:
        return done
    make_folder(out)
    resume_from = resume_state(out, cfg.hash, resume)

    run = Run.build(cfg)
    trainer, dataset, data, method = run.trainer, run.dataset, run.data, run.method
    group = trainer.group  # with torchrun, rank 0 alone logs and writes the result
    logger = make_logger(out, cfg, resume_from["step"] if resume_from else None, **cfg["logging"]) if group.leader \
        else Loggers()
    try:
        fit = trainer.fit(method, data, out, logger, cfg["seed"], resume_from, cfg.hash, progress_bar)
    except NonFiniteLoss as err:
        if not group.leader:
            raise RunFailed(str(err)) from None
        write_json_atomic({"error": str(err), "config_hash": cfg.hash, "config": cfg,
                           **provenance(trainer.device, trainer.threads)}, out / "failed.json")
        logger.finish({"failed": str(err), "config_hash": cfg.hash})
        raise RunFailed(str(err)) from None
    except BaseException:
        logger.finish()
        raise
    if not group.leader:
        return {}
    records, last = fit.records, fit.records[-1]
    logger.finish({"target_accuracy": last["target_test_acc"], "source_accuracy": last["source_val_acc"],
                   "steps": last["step"], "config_hash": cfg.hash})
    result = {
        "method": cfg["method"]["name"], "dataset": cfg["dataset"]["name"],
        "source": cfg["source"], "target": cfg["target"], "seed": cfg["seed"],
        "target_accuracy": last["target_test_acc"], "source_accuracy": last["source_val_acc"],
        "metric": data.metric, "selection": "last checkpoint", "steps": last["step"],
        "resumed_from_step": resume_from["step"] if resume_from else 0,
        "final_losses": {k[5:]: v for k, v in last.items() if k.startswith("loss/")},
        "target_labeled": cfg["target_labeled"], "target_label_fraction": cfg["target_label_fraction"],
        "target_labeled_draw": label_draw(cfg),
        "source_stage": run.source_stage, "init_from": init_from_summary(cfg["model"]),
        "records": records, "protocol": dataset.protocol, "data_sizes": data.sizes,
        "data_files": dataset.used_files, "config": cfg, "config_hash": cfg.hash,
        "wall_s": fit.wall_s, **provenance(trainer.device, trainer.threads),
        **({"processes": group.world} if group.world > 1 else {}),
    }
    write_json_atomic(result, out / "result.json")
    return result
