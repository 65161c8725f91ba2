"""A benchmark file -> a list of Cells, each a fully resolved run config with a stable id.

Minimal benchmark file (every other key is optional):

    dataset: office_caltech10_surf
    pairs: [[amazon, webcam], [webcam, amazon]]    # or: all (every ordered pair of domains)
    methods: [source_only, dann, {name: dan, trade_off: 0.5}]
    seeds: [0, 1]
    overrides: {trainer.steps: 200}                # dotted keys applied to every run

A pair's source may be a list of domains (multi-source DA: ``[[mnist, usps, svhn], mnistm]``, a
source labelled "mnist+usps+svhn"); ``pairs: leave_one_out`` makes every domain the target once,
with all the others as its sources.

``sweep`` runs every method at several hyper-parameter points (dabench/bench/sweep.py); the
table then picks one point per method, pair and seed with the selection rule in use.

``baseline`` names the entry that gains are measured against (default ``source_only``; ``fine_tune`` when
every pair is task adaptation, ``[none, target]``), e.g. ``baseline: finetune`` for a grid of adaptation
methods on top of fine-tuning.

A method entry may carry a ``label`` (its name in tables, so one method can appear twice)
and its own ``overrides``: ``{name: source_only, label: finetune_lr0.1,
overrides: {optim.backbone_lr_mult: 0.1}}``.

Each run starts from configs/datasets/<dataset>.yaml (the family recipe), then the rules of
its ``protocol`` (paper by default; dabench/protocols.py), then the file's own run sections
(model, trainer, optim, logging, val_fraction, data_root), then ``overrides``, then the command
line's ``key=value`` overrides.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from dabench import protocols
from dabench.bench.sweep import applicable, sweep_points
from dabench.config import family_config, resolve
from dabench.config_files import apply_overrides, as_spec, load_yaml, merge
from dabench.data.loaders import NO_SOURCE
from dabench.errors import DabenchError
from dabench.schema import GridFile, describe
from dabench.selection import rules

RUN_KEYS = ("protocol", "model", "trainer", "optim", "logging", "val_fraction", "target_labeled",
            "target_label_fraction", "target_labeled_draw", "target_classes",
            "source_classes", "unknown_threshold", "unseen_target", "data_root")


@dataclass(frozen=True, eq=False)
class Cell:
    """One run of the grid. `cell_id` is the first 16 hex digits of the sha256 of `config`; `sweep`
    holds the sweep point's values ({} without a sweep)."""

    cell_id: str
    method: str
    source: str
    target: str
    seed: int
    config: dict
    sweep: dict = field(default_factory=dict)


@dataclass
class Grid:
    name: str
    dataset: str
    pairs: list[tuple[str, str]]
    methods: list[str]
    seeds: list[int]
    cells: list[Cell]
    raw: dict
    baseline: str = "source_only"


def _where(path: Path, key: str, err: DabenchError) -> DabenchError:
    return DabenchError(f"{path}: {key}: {err}")


def load_grid(path: str | Path, cli_overrides: list[str] | None = None, threads: int | None = None) -> Grid:
    """Read, validate and expand a benchmark file; every error names the file and the key.

    `threads` is the CPU thread count each run gets unless the file or the overrides set
    ``trainer.threads`` (the runner passes cores / workers); it is part of every cell's hash.
    """
    path = Path(path)
    raw = load_yaml(path)
    try:
        GridFile.model_validate(raw)
    except ValidationError as err:
        raise describe(err, GridFile, where=str(path)) from None
    dataset = as_spec(raw["dataset"])
    try:
        family = family_config(dataset["name"])
    except DabenchError as err:
        raise _where(path, "dataset", err) from None
    family["dataset"] = merge(as_spec(family.get("dataset", dataset["name"])), dataset)  # same name: the family's
    own = {k: raw[k] for k in RUN_KEYS if k in raw}
    own = apply_overrides(apply_overrides(own, raw.get("overrides") or {}), cli_overrides or [])
    base = merge(family, own)
    if threads and not (base.get("trainer") or {}).get("threads"):
        own = merge(own, {"trainer": {"threads": threads}})
    if base.get("logging", {}).get("wandb"):  # compare the grid's runs in wandb
        own = merge(own, {"logging": {"wandb_group": base["logging"].get("wandb_group") or raw.get("name", path.stem)}})
    # `method.<key>` from the recipe or the overrides applies to every method entry.
    shared = {k: v for k, v in as_spec(base.get("method", {})).items() if k != "name"}
    family.pop("method", None)
    own.pop("method", None)
    pairs = _pairs(path, raw["pairs"], base)
    try:
        points = sweep_points(raw.get("sweep"))
        rules.check(raw.get("select", "last"))
    except DabenchError as err:
        raise DabenchError(f"{path}: {err}") from None
    taken_by = {i: _method_parameters(path, i, as_spec(entry)["name"]) for i, entry in enumerate(raw["methods"])}
    _check_swept_method_keys(path, points, {as_spec(raw["methods"][i])["name"]: taken for i, taken in taken_by.items()})
    cells, names = [], []
    for i, entry in enumerate(raw["methods"]):
        method = {**shared, **as_spec(entry)}
        label, method_overrides = method.pop("label", None), method.pop("overrides", None) or {}
        names.append(label or method["name"])
        taken = taken_by[i]
        own_points = list({repr(p): p for p in (applicable(point, taken) for point in points)}.values())
        for (source, target), seed, point in itertools.product(pairs, raw["seeds"], own_points):
            run = {**own, "method": method, "source": source, "target": target, "seed": seed}
            try:
                resolved = resolve(protocols.apply(family, apply_overrides(apply_overrides(run, method_overrides),
                                                                             point)))
            except DabenchError as err:
                where = f"methods[{i}] {method.get('name')} {source}->{target}" + (f" sweep {point}" if point else "")
                raise _where(path, where, err) from None
            cells.append(Cell(resolved.hash, names[-1], source, target, seed, resolved, point))
    if len(set(names)) != len(names):
        raise DabenchError(f"{path}: methods: {names} lists a method twice; give each variant its own "
                           f"'label', e.g. {{name: dann, label: dann_0.5, trade_off: 0.5}}")
    # Task adaptation (every pair from source none) measures gains against plain fine-tuning.
    baseline = raw.get("baseline", "fine_tune" if all(source == NO_SOURCE for source, _ in pairs) else "source_only")
    if "baseline" in raw and baseline not in names:
        raise DabenchError(f"{path}: baseline '{baseline}' is not one of the method labels ({', '.join(names)})")
    _check_tsne(path, raw.get("tsne", True), names, pairs, raw["seeds"], baseline)
    return Grid(raw.get("name", path.stem), dataset["name"], pairs, names, raw["seeds"], cells, raw, baseline)


def _method_parameters(path: Path, i: int, name: str) -> dict:
    from dabench.methods.base import METHODS

    try:
        return METHODS.parameters(name)
    except DabenchError as err:
        raise _where(path, f"methods[{i}] {name}", err) from None


def _check_swept_method_keys(path: Path, points: list[dict], taken_by: dict[str, dict]) -> None:
    """A swept ``method.<key>`` goes to the methods that take <key>; one that none takes is a typo, not a no-op."""
    swept = sorted({key.split(".", 1)[1] for point in points for key in point if key.startswith("method.")})
    for key in swept:
        if not any(key in taken for taken in taken_by.values()):
            parameters = "; ".join(f"{name}: {', '.join(taken) or 'none'}" for name, taken in taken_by.items())
            raise DabenchError(f"{path}: sweep: method.{key}: no method of the grid takes '{key}'; their parameters: "
                               f"{parameters}")


def _check_tsne(path: Path, choice, methods: list[str], pairs: list[tuple[str, str]], seeds: list[int],
                baseline: str) -> None:
    """The t-SNE figure compares the baseline with one method on one pair and seed of the grid."""
    if choice is True or choice is False:
        return
    if baseline not in methods:
        raise DabenchError(f"{path}: tsne: the figure compares a method with the baseline {baseline}, which the grid "
                           f"does not run; add it to methods, set baseline:, or write tsne: false")
    if choice.get("method") is not None and choice["method"] not in methods:
        raise DabenchError(f"{path}: tsne.method '{choice['method']}' is not in methods ({', '.join(methods)})")
    if choice.get("pair") is not None and tuple(choice["pair"]) not in pairs:
        raise DabenchError(f"{path}: tsne.pair {choice['pair']} is not among the grid's pairs")
    if choice.get("seed") is not None and choice["seed"] not in seeds:
        raise DabenchError(f"{path}: tsne.seed {choice['seed']} is not among the grid's seeds {seeds}")


def _pairs(path: Path, pairs, base: dict) -> list[tuple[str, str]]:
    from dabench.data.base import DATASETS
    from dabench.data.loaders import source_domains

    try:
        dataset = DATASETS.build(base["dataset"], root=base.get("data_root"))
    except DabenchError as err:
        raise _where(path, "dataset", err) from None
    if pairs == "all":
        return [(s, t) for s in dataset.domains for t in dataset.domains if s != t]
    if pairs == "leave_one_out":
        return [("+".join(s for s in dataset.domains if s != t), t) for t in dataset.domains]
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise DabenchError(f"{path}: pairs: expected 'all', 'leave_one_out' or a list of [source, target] (source: a "
                           f"domain or a list of domains), got {pairs!r}")
    pairs = [("+".join(source) if isinstance(source, list) else source, target) for source, target in pairs]
    for source, target in pairs:
        for domain in [*source_domains(source), target]:
            if domain not in dataset.domains:
                raise DabenchError(f"{path}: pairs: dataset '{dataset.name}' has no domain '{domain}'; its domains: "
                                   f"{', '.join(dataset.domains)}")
    return pairs
