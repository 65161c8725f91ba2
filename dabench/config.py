"""Run configs: validation of every key, type, range, name and domain before any training starts, and the
config hash that names a run (reading YAML files and overrides: dabench/config_files.py).

A run config has these sections (dabench/schema.py gives every type, range and default):

    dataset: {name: digits, image_size: 28}   # name + the dataset's keyword arguments
    source: usps                              # or several (multi-source DA): [mnist, svhn], or mnist+svhn;
                                              # or none (task adaptation: fine-tune on target labels)
    target: mnist
    method: {name: dann, trade_off: 1.0}      # name + the method's keyword arguments
    protocol: paper                           # or tllib: a preset of configs/protocols/ (dabench/protocols.py)
    model: {backbone: {name: lenet}, bottleneck_dim: 256}
    trainer: {steps: 1000, batch_size: 64, ...}   # Trainer keyword arguments
    optim: {lr: 0.01, ...}                    # Optim fields
    logging: {wandb: false, ...}              # make_logger keyword arguments
    seed: 0
    val_fraction: 0.1                         # source data held out for source_val
    target_labeled: 0                         # k labeled target samples per class (semi-supervised DA; task adaptation)
    target_label_fraction: null               # task adaptation (source: none): a fraction of each class's labels
    target_classes: null                      # partial DA: the target keeps only these classes (indices or names)
    source_classes: null                      # open-set DA: the source keeps only these (known) classes
    unknown_threshold: 0.5                    # open-set DA: top softmax probability under which a sample is unknown
    unseen_target: false                      # domain generalization: no target sample reaches training
    data_root: null                           # null: $DABENCH_DATA or ~/.cache/dabench
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import json

from dabench.config_files import CONFIG_DIR, as_spec, leaves, load_yaml
from dabench.errors import DabenchError
from dabench.schema import RunConfig, describe


def _refuse(self, *args, **kwargs):
    raise TypeError("a resolved config is read-only: derive a changed one with "
                    "dabench.config_files.merge(cfg, {...}) (or apply_overrides) and resolve that")


class _ReadOnlyDict(dict):
    """A section of a resolved config: a dict that refuses changes. A deep copy is a plain, changeable dict."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __deepcopy__(self, memo) -> dict:
        return thawed(self)

    def __reduce__(self):
        return frozen, (thawed(self),)


class _ReadOnlyList(list):
    """A list value of a resolved config (source_classes, a method's layers) that refuses changes."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = sort = \
        reverse = _refuse

    def __deepcopy__(self, memo) -> list:
        return thawed(self)

    def __reduce__(self):
        return frozen, (thawed(self),)


class ResolvedConfig(_ReadOnlyDict):
    """What `resolve` returns, and all that the runner, the store, the trainer and the loggers read: the run
    config with every default filled in and every value typed, read-only all the way down, carrying its
    `hash` (`config_hash`, computed once). It is a dict for reading (json.dumps writes it as one);
    `copy.deepcopy` or `merge` give a plain dict to derive another config from, which `resolve` validates anew."""

    __slots__ = ("hash",)

    def __reduce__(self):
        return _resolved, (thawed(self), self.hash)


def frozen(value):
    """`value` with every dict and list, nested ones too, made read-only."""
    if isinstance(value, dict):
        return _ReadOnlyDict({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return _ReadOnlyList(frozen(item) for item in value)
    return value


def thawed(value):
    """`value` as plain, changeable dicts and lists (a deep copy: the leaves are immutable scalars)."""
    if isinstance(value, dict):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thawed(item) for item in value]
    return value


def _resolved(plain: dict, hash_: str) -> ResolvedConfig:
    resolved = ResolvedConfig(frozen(plain))
    resolved.hash = hash_
    return resolved


def family_config(dataset: str) -> dict:
    """configs/datasets/<dataset>.yaml: the protocol recipe of that dataset (backbone, image size, steps,
    batch, lr). A dataset without one is an error, never a silent fallback to other defaults."""
    from dabench.data.base import DATASETS

    DATASETS.get(dataset)  # an unknown name fails here, with the known ones and "did you mean"
    family = CONFIG_DIR / "datasets" / f"{dataset}.yaml"
    if not family.is_file():
        raise DabenchError(f"dataset '{dataset}' has no protocol config {family}; pass --config FILE with its "
                           f"model, trainer and optim sections (see {CONFIG_DIR / 'datasets'} for examples)")
    return load_yaml(family)


def resolve(cfg: dict, same_domain: bool = False, check_data: bool = True) -> dict:
    """Validate `cfg` and return it fully resolved: every default filled in, every value typed.

    Sections are checked by the typed config (dabench/schema.py), the keyword arguments of the
    dataset, method and backbone by their constructors' annotations, then names, domains and data
    files. Raises DabenchError (one line: the key, the problem, the fix) before anything is
    trained. `same_domain` allows source == target (a source-only first stage scores itself);
    `check_data=False` skips the data-presence check (``dabench config show``). A ResolvedConfig is returned
    as it is: resolution happens once, where the config is made.
    """
    if isinstance(cfg, ResolvedConfig):
        return cfg
    import torch
    from pydantic import ValidationError

    from dabench import protocols
    from dabench.data.base import DATASETS
    from dabench.data.loaders import class_indices, source_domains
    from dabench.methods.base import METHODS
    from dabench.models.backbones import BACKBONES, backbone_spec
    from dabench.models.pretrained import pretrained_run

    if not isinstance(cfg, dict):
        raise DabenchError(f"config: expected a mapping of sections, got {cfg!r}")
    for key in ("dataset", "source", "target"):
        if cfg.get(key) in (None, "", {}):
            raise DabenchError(f"config: '{key}' is not set; give it in the YAML or as --{key}")
    if isinstance(cfg["source"], list):  # several sources: one name, as in the grid's pair labels
        cfg = {**cfg, "source": "+".join(map(str, cfg["source"]))}
    try:
        cfg = RunConfig.model_validate(cfg).model_dump()
    except ValidationError as err:
        raise describe(err, RunConfig) from None
    sources = source_domains(cfg["source"])
    if cfg["target"] in sources and not same_domain:
        raise DabenchError(f"config: '{cfg['target']}' is both a source and the target; domain adaptation needs a "
                           f"target domain that is not a source")
    if len(set(sources)) != len(sources):
        raise DabenchError(f"config: source '{cfg['source']}' names a domain twice; list each source once")
    cfg["dataset"], cfg["method"] = as_spec(cfg["dataset"]), as_spec(cfg["method"])
    protocols.load(cfg["protocol"])  # an unknown name fails here, with the known ones
    cfg["model"]["backbone"] = backbone_spec(cfg["model"]["backbone"])
    filled = {"dataset": (DATASETS, cfg["dataset"]), "method": (METHODS, cfg["method"]),
              "model.backbone": (BACKBONES, cfg["model"]["backbone"])}
    for section, (registry, spec) in filled.items():
        if "name" not in spec:
            raise DabenchError(f"config: {section} has no 'name'; write e.g. {section}.name=... or {section}: NAME")
        kwargs = registry.check_kwargs(spec["name"], {k: v for k, v in spec.items() if k != "name"})
        defaults = {k: v for k, v in registry.parameters(spec["name"]).items()
                    if k not in ("root", "input_shape") and v is not inspect.Parameter.empty}
        spec.update({**defaults, **kwargs})
    if cfg["trainer"]["threads"] is None:  # results depend on it on CPU: it is part of the hash
        cfg["trainer"]["threads"] = torch.get_num_threads()
    METHODS.build(cfg["method"])  # methods check nested options (align's terms) in __init__
    backbone = cfg["model"]["backbone"]
    if cfg["model"]["init_from"] is not None:
        cfg["model"].update(pretrained_run(cfg["model"]["init_from"], backbone))
    # A backbone is pretrained by its `weights`, or always (it declares always_pretrained: MiniLM), or by init_from.
    pretrained = (backbone.get("weights") is not None or getattr(BACKBONES.get(backbone["name"]), "always_pretrained",
                                                                 False) or cfg["model"]["init_from"] is not None)
    if (METHODS.get(cfg["method"]["name"]).needs_pretrained_backbone and not pretrained
            and not cfg["method"].get("allow_random_backbone")):
        raise DabenchError(f"config: method '{cfg['method']['name']}' transfers a pretrained backbone, but backbone "
                           f"'{backbone['name']}' has no pretrained weights; use one with weights (e.g. "
                           f"model.backbone={{name: efficientnet_lite0, weights: imagenet}}), start from a trained "
                           f"run (model.init_from=CELL) or set method.allow_random_backbone=true")
    dataset = DATASETS.build(cfg["dataset"], root=cfg["data_root"])
    for key in ("source_classes", "target_classes"):
        cfg[key] = class_indices(cfg[key], dataset, key)
    if cfg["source_classes"] and cfg["target_classes"] and not set(cfg["source_classes"]) & set(cfg["target_classes"]):
        raise DabenchError(f"source_classes {cfg['source_classes']} and target_classes {cfg['target_classes']} share "
                           f"no class, so nothing could transfer; list at least one class in both")
    target_classes = set(cfg["target_classes"] or range(dataset.num_classes))  # empty: classes found on reading
    if METHODS.get(cfg["method"]["name"]).unknown_output and (
            cfg["source_classes"] is None or target_classes and not target_classes - set(cfg["source_classes"])):
        raise DabenchError(f"config: method '{cfg['method']['name']}' is an open-set method with an 'unknown' output, "
                           f"and no target class is unknown (outside source_classes); set source_classes to the "
                           f"known classes only (e.g. source_classes=[0,1,2,3,4]) so that the target holds classes "
                           f"the source lacks")
    if cfg["unseen_target"] and METHODS.get(cfg["method"]["name"]).uses_target:
        fits = [name for name in METHODS.names() if not METHODS.get(name).uses_target]
        raise DabenchError(f"config: method '{cfg['method']['name']}' trains on target batches, and unseen_target "
                           f"(domain generalization) hands training none; use one of {', '.join(fits)}")
    if cfg["unseen_target"] and cfg["target_labeled"]:
        raise DabenchError("config: unseen_target (domain generalization) and target_labeled > 0 contradict each "
                           "other: no target sample reaches training; set one of them off")
    check_setting(cfg, METHODS.get(cfg["method"]["name"]))
    if METHODS.get(cfg["method"]["name"]).needs_several_sources and len(sources) < 2:
        raise DabenchError(f"config: method '{cfg['method']['name']}' is a multi-source method; give several source "
                           f"domains (source: [mnist, usps, svhn], or source=mnist+usps+svhn)")
    for domain in [*sources, cfg["target"]]:
        dataset.check_domain(domain)
        missing = dataset.missing_files(domain) if check_data else []
        if missing:
            raise DabenchError(f"dataset '{dataset.name}' domain '{domain}': missing {', '.join(missing)} under "
                               f"data root {dataset.root}; run {dataset.fetch_command()} or set "
                               f"DABENCH_DATA (or data_root=) to a folder that holds them")
    return _resolved(cfg, config_hash(cfg))


def check_setting(cfg: dict, method) -> None:
    """Task adaptation (``source: none``): the method must train on labeled batches alone, and the label budget
    is target_labeled per class or target_label_fraction of each class (all labels when neither is set, filled
    in here). Outside it, target_label_fraction means nothing and is refused."""
    from dabench.data.loaders import NO_SOURCE
    from dabench.methods.base import METHODS

    if cfg["source"] != NO_SOURCE:
        if cfg["target_label_fraction"] is not None:
            raise DabenchError("config: target_label_fraction is the label budget of task adaptation (source: none); "
                               "semi-supervised DA takes target_labeled (labels per class)")
        return
    if method.uses_target or method.needs_several_sources:
        fits = [name for name in METHODS.names()
                if not (METHODS.get(name).uses_target or METHODS.get(name).needs_several_sources)]
        needs = "several source domains" if method.needs_several_sources else "source and target batches"
        raise DabenchError(f"config: method '{cfg['method']['name']}' trains on {needs}, and source none (task "
                           f"adaptation) has none: its only data are the target's labeled samples; use one of "
                           f"{', '.join(fits)}")
    for key in ("unseen_target", "source_classes", "target_classes"):
        if cfg[key]:
            raise DabenchError(f"config: {key} needs a source domain, and source is none (task adaptation); unset "
                               f"{key}")
    if cfg["target_labeled"] and cfg["target_label_fraction"] is not None:
        raise DabenchError("config: target_labeled and target_label_fraction both set a label budget; set one")
    if not cfg["target_labeled"] and cfg["target_label_fraction"] is None:
        cfg["target_label_fraction"] = 1.0


def explain(layers: list[tuple[str, dict]], resolved: dict) -> str:
    """The resolved config as YAML-like lines ``key: value  # origin``: the origin is the last of
    `layers` (name, partial config) that set the key, else the typed default or the constructor's."""
    given = [(name, leaves(layer)) for name, layer in layers]
    lines = []
    for key, value in leaves(resolved).items():
        origin = next((name for name, keys in reversed(given) if key in keys), "default")
        lines.append(f"{key}: {json.dumps(value)}  # {origin}")
    return "\n".join(lines) + "\n"


def canonical_json(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)


# Where the data lives, how many processes decode it and where runs are logged do not change a
# result (a test checks `workers`); they stay out of the hash so that moving the data root or
# running on a machine with more cores never recomputes a finished run.
NOT_HASHED = (("data_root",), ("dataset", "workers"), ("logging",), ("model", "init_from"))
# Keys added after runs were stored, with the default that reproduces the runs before them: hashed
# only when set to something else, so upgrading dabench never renames (and recomputes) a stored cell.
HASHED_UNLESS_DEFAULT = {("target_classes",): None, ("model", "bottleneck_batchnorm"): True,
                         ("model", "head_width"): 0, ("model", "init"): "pytorch", ("source_classes",): None,
                         ("unknown_threshold",): 0.5, ("unseen_target",): False, ("dataset", "decode"): "auto",
                         ("trainer", "compile"): False, ("trainer", "channels_last"): None,
                         ("trainer", "fused_optimizer"): None, ("trainer", "tf32"): None,
                         ("trainer", "cudnn_benchmark"): None, ("target_label_fraction",): None,
                         ("model", "init_from_id"): None, ("optim", "layer_decay"): 1.0,
                         ("target_labeled_draw",): None, ("trainer", "eval_target_samples"): None,
                         ("dataset", "digits"): "mnist"}


def config_hash(cfg: dict) -> str:
    """sha256 of the canonical JSON of a resolved config without the NOT_HASHED keys (and the
    HASHED_UNLESS_DEFAULT ones at their default), first 16 hex digits; a ResolvedConfig's own."""
    if isinstance(cfg, ResolvedConfig):
        return cfg.hash
    hashed = copy.deepcopy(cfg)
    for *parents, key in [*NOT_HASHED, *HASHED_UNLESS_DEFAULT]:
        section = hashed
        for parent in parents:
            section = section.get(parent, {})
        if (*parents, key) not in HASHED_UNLESS_DEFAULT or section.get(key) == HASHED_UNLESS_DEFAULT[(*parents, key)]:
            section.pop(key, None)
    return hashlib.sha256(canonical_json(hashed).encode()).hexdigest()[:16]
