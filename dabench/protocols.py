"""Protocols: named presets that set each method and dataset up as a published code base does.

A protocol is a YAML file in configs/protocols/: a list of rules, each ``{when: {...}, set: {...}}``.
``when`` matches on the run's method (registry name), dataset, source and target (a value or a
list of values; no ``when``: every run); ``set`` is a partial run config merged in rule order, so
later rules win. ``paper`` has no rules (dabench's defaults follow the papers); ``tllib`` turns on
the Transfer Learning Library's options (warm-start reversal, BatchNorm discriminator, its CORAL,
linear MMD, per-iteration lr schedule, trade-offs, iterations and bottlenecks per dataset).

Where a protocol sits in a run config: dataset recipe < protocol < the run's own sections and
``key=value`` overrides, so a benchmark that changes a protocol value (fewer steps on a CPU) wins,
and its table footer says so (``footer``).
"""
from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dabench.config_files import CONFIG_DIR, as_spec, leaves, load_yaml, merge
from dabench.errors import DabenchError

PROTOCOL_DIR = CONFIG_DIR / "protocols"
MATCHED = ("method", "dataset", "source", "target")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: dict[str, str | list[str]] = Field(default_factory=dict)
    set: dict[str, Any]


class Protocol(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    source: str
    rules: list[Rule]


def names() -> list[str]:
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


@functools.cache
def load(name: str) -> Protocol:
    """The protocol `name`, validated; an unknown name lists the known ones."""
    if name not in names():
        raise DabenchError(f"unknown protocol '{name}'; known: {', '.join(names())} (files in {PROTOCOL_DIR})")
    path = PROTOCOL_DIR / f"{name}.yaml"
    try:
        protocol = Protocol.model_validate(load_yaml(path))
    except ValidationError as err:
        first = err.errors()[0]
        raise DabenchError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    for i, rule in enumerate(protocol.rules):
        unknown = set(rule.when) - set(MATCHED)
        if unknown:
            raise DabenchError(f"{path}: rules[{i}].when: unknown key {sorted(unknown)}; rules match on "
                               f"{', '.join(MATCHED)}")
    return protocol


def layer(name: str, run: dict[str, str]) -> dict:
    """The merged ``set`` of the rules of protocol `name` that match `run` ({method, dataset, source, target})."""
    out: dict = {}
    for rule in load(name).rules:
        if all(run.get(key) in ([want] if isinstance(want, str) else want) for key, want in rule.when.items()):
            out = merge(out, rule.set)
    return out


def identity(cfg: dict) -> dict[str, str]:
    """{method, dataset, source, target} of a (partial) run config, for matching rules."""
    return {"method": as_spec(cfg.get("method", "source_only"))["name"],
            "dataset": as_spec(cfg["dataset"])["name"], "source": cfg.get("source"), "target": cfg.get("target")}


def apply(recipe: dict, run: dict) -> dict:
    """recipe (configs/datasets/...) < the protocol's matching rules < run (the run's own keys).

    The protocol is the one `run` or `recipe` names (``protocol:``), else ``paper``. Method options
    merge key by key: the protocol's, then the recipe's and run's (``method.trade_off=0.5`` wins).
    """
    merged = merge(recipe, run)
    preset = layer(merged.get("protocol", "paper"), identity(merged))
    options = preset.pop("method", {})
    out = merge(merge(recipe, preset), run)
    if options:
        out["method"] = {**options, **as_spec(out.get("method", "source_only"))}
    return out


def _get(cfg: dict, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def footer(rows: list[dict]) -> list[str]:
    """Table footer lines: the protocol, then per table entry the options it sets (that differ from
    ``paper``) and any the benchmark overrode, e.g. fewer steps than the protocol's."""
    name = rows[0]["config"].get("protocol", "paper")
    protocol = load(name)
    lines = [f"- Protocol: **{name}**, {protocol.description} ({protocol.source})."]
    if not protocol.rules:
        return lines
    for method in dict.fromkeys(r["method"] for r in rows):
        set_values: dict[str, list] = {}
        overridden: dict[str, set] = {}
        for row in (r for r in rows if r["method"] == method):
            cfg = row["config"]
            for key, value in leaves(layer(name, identity(cfg))).items():
                final = _get(cfg, key)
                if final == value:
                    set_values.setdefault(key, [])
                    if value not in set_values[key]:
                        set_values[key].append(value)
                else:
                    overridden.setdefault(key, set()).add((json.dumps(value), json.dumps(final)))
        parts = [f"{k}={'/'.join(json.dumps(v) for v in vs)}" for k, vs in set_values.items()]
        line = f"  - {method}: " + (", ".join(parts) or "no option differs from paper")
        if overridden:
            line += "; overridden by this benchmark: " + ", ".join(
                f"{k}={'/'.join(sorted(f for _, f in pairs))} ({name}: {'/'.join(sorted({p for p, _ in pairs}))})"
                for k, pairs in overridden.items())
        lines.append(line)
    return lines
