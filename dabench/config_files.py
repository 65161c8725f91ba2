"""Config files: YAML with ``_base_`` inheritance, merged layer by layer, and dotted ``key=value``
overrides. Only reading and merging; validation and resolution are dabench.config's."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from dabench.errors import DabenchError


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: PyYAML follows YAML 1.1, where ``1e-3`` and ``1e6`` (no dot,
    or no exponent sign) are strings, so ``optim.lr=1e-3`` would be refused as a string."""


_Loader.yaml_implicit_resolvers = {key: list(values) for key, values in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_yaml(text: str):
    """`text` parsed as YAML with YAML 1.2 scientific notation (``1e-3`` is a float)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def shipped(name: str) -> Path:
    """The folder `name` (configs, paper_results): at the top of a source checkout, or inside the
    package where a wheel installs it."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / name
    return checkout if checkout.is_dir() and (here.parent / "pyproject.toml").is_file() else here / name


CONFIG_DIR = shipped("configs")


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; values of `update` win, mappings merge key by key, except that a spec
    naming another component (``{name: minilm}`` over ``{name: mlp, hidden: [50]}``) replaces the
    old one: the options of one backbone, method or dataset mean nothing to another."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        old = out.get(key)
        both_mappings = isinstance(old, dict) and isinstance(value, dict)
        if both_mappings and not ("name" in value and value["name"] != old.get("name")):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """Read a YAML config, resolving its ``_base_`` (a path relative to the file, or a list)."""
    path = Path(path)
    if not path.exists() and not path.is_absolute() and path.parts[:1] == ("configs",):
        path = CONFIG_DIR.joinpath(*path.parts[1:])  # `--config configs/...` from any folder
    if path.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise DabenchError(f"{path}: _base_ cycle ({cycle}); remove one of these _base_ links")
    if path.is_dir():
        raise DabenchError(f"config {path} is a folder; give the path of a YAML file in it")
    if not path.is_file():
        raise DabenchError(f"config file {path} not found; give a path to a YAML file (examples in {CONFIG_DIR})")
    try:
        cfg = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DabenchError(f"{path}{where}: malformed YAML ({getattr(err, 'problem', err)}); fix the syntax") from None
    if not isinstance(cfg, dict):
        raise DabenchError(f"{path}: expected a mapping of config keys, got {type(cfg).__name__}")
    bases = cfg.pop("_base_", [])
    if not isinstance(bases, (str, list)) or not all(isinstance(b, str) for b in ([bases] if isinstance(bases, str)
                                                                                 else bases)):
        raise DabenchError(f"{path}: _base_ must be a path or a list of paths, got {bases!r}")
    merged: dict = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = merge(merged, load_yaml(path.parent / base, (*_chain, path.resolve())))
    return merge(merged, cfg)


def set_dotted(cfg: dict, key: str, value: Any) -> None:
    """cfg["a"]["b"]["c"] = value for key "a.b.c", creating sections; a name string becomes {name: ...}."""
    node = cfg
    parts = key.split(".")
    for part in parts[:-1]:
        if isinstance(node.get(part), str):  # "method=dann" then "method.trade_off=2"
            node[part] = {"name": node[part]}
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise DabenchError(f"override '{key}': '{part}' is not a section")
    node[parts[-1]] = value


def apply_overrides(cfg: dict, overrides: list[str] | dict) -> dict:
    """Apply ``a.b.c=value`` strings (values parsed as YAML: ``lr=1`` is 1, ``x=[0,1]`` a list)
    or a mapping {dotted key: value}; returns a new dict."""
    cfg = copy.deepcopy(cfg)
    if isinstance(overrides, dict):
        for key, value in overrides.items():
            set_dotted(cfg, key, value)
        return cfg
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise DabenchError(f"override '{item}' is not key=value; write e.g. trainer.steps=500")
        try:
            value = parse_yaml(raw)
        except yaml.YAMLError:
            raise DabenchError(f"override '{item}': value is not valid YAML; quote it") from None
        set_dotted(cfg, key, value)
    return cfg


def as_spec(value: Any) -> dict:
    """``"dann"`` -> {"name": "dann"}; a mapping is returned as is."""
    return {"name": value} if isinstance(value, str) else dict(value)


def leaves(tree: dict, prefix: str = "") -> dict:
    """{dotted key: value} of the leaves of a config; a spec given as a name counts as its `name`."""
    out = {}
    for key, value in tree.items():
        if key in ("dataset", "method", "backbone") and isinstance(value, str):
            value = {"name": value}
        if isinstance(value, dict) and value:
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
