"""The reference pages of the documentation, generated from the code so they cannot drift from it:
every config key from the typed schema (dabench/schema.py), every registered method and every
registered dataset. Each function returns one Markdown page; the site's build hook (docs/hooks.py)
writes them, and `dabench list` reads the same facts from the same functions."""
from __future__ import annotations

import inspect
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from dabench.schema import GridFile, RunConfig, Section, StreamOptions


def first_line(obj) -> str:
    return (inspect.getdoc(obj) or "").split("\n")[0]


def _cell(text) -> str:
    """`text` fit for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_name(annotation) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return repr(annotation).replace("typing.", "").replace("NoneType", "None")


def _default(field) -> str:
    if field.default_factory is not None:
        return f"`{field.default_factory()!r}`"
    return "required" if field.default is PydanticUndefined else f"`{field.default!r}`"


def config_keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[tuple[str, object]]:
    """Every key of `model` as (dotted name, pydantic field), sections expanded in schema order."""
    keys = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, Section):
            keys += config_keys(field.annotation, f"{prefix}{name}.")
        else:
            keys.append((prefix + name, field))
    return keys


def _key_table(model: type[BaseModel], prefix: str = "") -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, field in config_keys(model, prefix):
        lines.append(f"| `{key}` | `{_cell(_type_name(field.annotation))}` | {_cell(_default(field))} | "
                     f"{_cell(field.description or '')} |")
    return lines


def config_reference() -> str:
    """The config reference page: a run config's keys, then a benchmark file's."""
    sections = [(name, field.annotation) for name, field in RunConfig.model_fields.items()
                if isinstance(field.annotation, type) and issubclass(field.annotation, Section)]
    return "\n".join([
        "# Config reference", "",
        "Generated from `dabench/schema.py` when the site is built; a test checks that every key of the schema is "
        "here. Values are strict: an int key takes no string, floats must be finite. A method's, dataset's or "
        "backbone's own keys are its constructor's keyword arguments (see the [method catalogue](methods.md) and "
        "`dabench list`).", "",
        "## A run config", "", first_line(RunConfig), "",
        *[f"- `{name}`: {first_line(model)}" for name, model in sections], "", *_key_table(RunConfig), "",
        "## A benchmark file", "", inspect.getdoc(GridFile) or "", "", *_key_table(GridFile), "",
        "## A stream config", "", "A run config's keys for the source model (without `target`), plus `targets` (the "
        "stream's domains in order), `method` (a test-time method, see the [method catalogue](methods.md)) and "
        "`stream`: " + first_line(StreamOptions), "", *_key_table(StreamOptions, "stream."), ""])


def method_settings(cls) -> str:
    """The settings a method class fits, from the flags the runner checks (dabench.config.check_setting)."""
    if cls.needs_several_sources:
        return "multi-source DA"
    if not cls.uses_target:
        return "any setting as its source-trained baseline; domain generalization; task adaptation"
    if cls.unknown_output:
        return "open-set and universal DA (needs `source_classes`)"
    return "UDA; semi-supervised, partial, open-set and universal DA"


def method_uses(name: str) -> str:
    """What a method is made of: its alignment terms, own updates and first stage."""
    from dabench.methods.base import METHODS, Method

    method = METHODS.build(name)
    cls = type(method)
    parts = [f"terms: {', '.join(t.registered_name for _, t in method.terms().values())}"] if method.terms() else []
    if not parts and cls.terms is not Method.terms:
        parts.append("terms: those named in its config")
    if cls.updates is not Method.updates:
        parts.append("own update sequence")
    elif cls.loss is not Method.loss:
        parts.append("own loss")
    if method.source_stage() is not None:
        parts.append(f"starts from a cached source-only stage ({method.source_stage()['method']})")
    return "uses: " + ("; ".join(parts) or "the source cross-entropy only")


def parameters(registry, name: str, skip=("root", "input_shape")) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in registry.parameters(name).items() if k not in skip)


def _method_section(title: str, registry, name: str, facts: list[str]) -> list[str]:
    """A catalogue section: the module docstring's first line (its paper) in bold, the rest, then `facts`, the
    defaults and the file."""
    module = inspect.getmodule(registry.get(name))
    details = (inspect.getdoc(module) or "").split("\n", 1)
    return [f"## {title}", "", f"**{_cell(details[0])}**", "",
            *([details[1].strip(), ""] if len(details) > 1 and details[1].strip() else []), *facts,
            f"- Defaults: `{parameters(registry, name) or 'none'}`.",
            f"- Source: `{module.__name__.replace('.', '/')}.py`.", ""]


def method_catalogue() -> str:
    """One section per registered method: its paper (the module docstring's first line), what its
    loss is made of, the settings it fits and its defaults; then the test-time methods of the stream setting."""
    from dabench.methods.base import METHODS
    from dabench.stream.base import STREAM_METHODS

    lines = ["# Method catalogue", "",
             f"The {len(METHODS.names())} registered methods, generated from the registry (`dabench list methods` "
             "prints the same). Each method's file gives its loss and its paper's hyper-parameters in its "
             "docstring; a config sets any of the defaults below as `method: {name: NAME, key: value}`.", ""]
    for name in METHODS.names():
        cls = METHODS.get(name)
        lines += _method_section(name, METHODS, name, [
            f"- Loss: {method_uses(name).removeprefix('uses: ')}.", f"- Settings: {method_settings(cls)}.",
            *(["- Needs a pretrained backbone (`model.backbone.weights`)."] if cls.needs_pretrained_backbone else [])])
    lines += ["# Test-time methods (the stream setting)", "",
              f"The {len(STREAM_METHODS.names())} methods of `dabench stream` ([Test-time adaptation]"
              "(../test-time.md)): each adapts a source model on the target's test stream, batch by batch, with no "
              "label and no source data.", ""]
    for name in STREAM_METHODS.names():
        cls = STREAM_METHODS.get(name)
        lines += _method_section(f"stream: {name}", STREAM_METHODS, name,
                                 [f"- Updates: {cls.updates}. Keeps between batches: {cls.keeps}."])
    return "\n".join(lines)


def _sources(dataset) -> list[str]:
    """Where a dataset's files come from, each with the checksum it is verified against."""
    archives = getattr(dataset, "archives", ())
    if archives:
        return [f"`{a.name}` ({a.checksum or 'no published checksum'}): " + ", ".join(a.mirrors) for a in archives]
    return [f"`{path}` (sha256 `{digest if isinstance(digest, str) else ' or '.join(digest)}`)"
            + (": " + ", ".join(dataset.urls[path]) if dataset.urls.get(path) else "")
            for path, digest in dataset.files.items()]


def dataset_catalogue() -> str:
    """One section per registered dataset: domains, classes, sizes, licence, citation, download
    sources and checksums, protocol."""
    from dabench.data.base import DATASETS

    lines = ["# Dataset catalogue", "",
             "Generated from the dataset registry (`dabench list datasets` prints the same). `dabench data download "
             "NAME` fetches and verifies a dataset; `dabench data import NAME PATH` verifies one obtained by hand.", ""]
    for name in DATASETS.names():
        cls = DATASETS.get(name)
        if name in ("folder", "audio_folder"):
            lines += [f"## {name}", "", first_line(cls) or first_line(inspect.getmodule(cls)),
                      "", "Your own data: no files of its own, no checksum.", ""]
            continue
        dataset = DATASETS.build(name)
        counts = getattr(dataset, "counts", {})
        sources = _sources(dataset)
        lines += [f"## {name}", "", _cell(first_line(inspect.getmodule(cls)) or first_line(cls)), "",
                  f"- Domains: {', '.join(f'{d} ({counts[d]:,})' if d in counts else d for d in dataset.domains)}.",
                  f"- Classes: {dataset.num_classes or 'read from the files'}.",
                  f"- Licence: {dataset.licence or 'not stated'}.",
                  f"- Cite: {dataset.citation or 'not stated'}.",
                  f"- Protocol: {dataset.protocol or 'not stated'}.",
                  "- Files: " + ("generated or shipped with a package; nothing to download" if not sources else ""),
                  *[f"    - {source}" for source in sources], ""]
    return "\n".join(lines)
