"""Name -> class registries built from configs, with "did you mean" errors.

One class, four instances (DATASETS, BACKBONES, METHODS, ALIGNMENTS): each one
auto-imports the modules of its package on first use, so adding a file that
uses ``@REGISTRY.register("name")`` is the only step to add a component. Packages
outside dabench register theirs through the ``dabench.plugins`` entry-point group:

    [project.entry-points."dabench.plugins"]
    my_lab = "my_lab.dabench_methods"      # a module that uses @register_method(...)
"""
from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import inspect
import pkgutil
import typing
from typing import Any, Callable

from dabench.errors import DabenchError


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


class Registry:
    """Maps lower_snake names to classes or factory functions.

    Args:
        kind: what is registered ("method", "dataset"...), used in messages.
        package: dotted package whose modules are imported on first lookup.
    """

    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
        self._entries: dict[str, Callable] = {}
        self._imported = False

    def register(self, name: str, **declared: Any) -> Callable:
        """Decorator adding `obj` as `name`; `declared` become attributes of it, what the component
        declares about itself for tests and tools (a backbone's ``example_input`` shape)."""
        def add(obj: Callable) -> Callable:
            if name in self._entries and self._entries[name] is not obj:
                other = self._entries[name].__module__
                raise DabenchError(f"{self.kind} '{name}' registered twice, by {other} and by {obj.__module__}; "
                                   f"register one of them under another name")
            self._entries[name] = obj
            obj.registered_name = name
            for key, value in declared.items():
                setattr(obj, key, value)
            return obj
        return add

    def _import_all(self) -> None:
        if self._imported:
            return
        self._imported = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{module.name}")
        load_plugins()

    def names(self) -> list[str]:
        self._import_all()
        return sorted(self._entries)

    def get(self, name: str) -> Callable:
        known = self.names()
        if name not in self._entries:
            raise DabenchError(f"unknown {self.kind} '{name}'; known: {', '.join(known)}{_suggest(name, known)}")
        return self._entries[name]

    def parameters(self, name: str) -> dict[str, Any]:
        """Constructor keyword arguments of `name` with their defaults (inspect.Parameter.empty if required)."""
        obj = self.get(name)
        params = {}
        # A class whose __init__ passes **kwargs up also accepts its parent's parameters.
        for owner in (obj.__mro__ if inspect.isclass(obj) else (obj,)):
            if inspect.isclass(owner) and "__init__" not in vars(owner):  # a mixin: its parameters are the next class's
                continue
            signature = inspect.signature(owner)
            params.update({p.name: p.default for p in signature.parameters.values()
                           if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in params})
            if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
                break
        return params

    def annotations(self, name: str) -> dict[str, Any]:
        """Type annotations of the constructor keyword arguments of `name` (unannotated ones are absent)."""
        obj = self.get(name)
        hints = {}
        for owner in reversed(obj.__mro__ if inspect.isclass(obj) else (obj,)):
            function = owner.__init__ if inspect.isclass(owner) else owner
            try:
                hints.update(typing.get_type_hints(function))
            except (NameError, TypeError):  # an annotation that cannot be resolved is not checked
                continue
        return {k: v for k, v in hints.items() if k != "return"}

    def check_kwargs(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Check `kwargs` against the constructor's names and annotated types (strict, finite floats);
        returns them validated. Raises a one-line DabenchError on the first bad key or value."""
        from pydantic import TypeAdapter, ValidationError

        from dabench.schema import STRICT

        accepted = self.parameters(name)
        annotations = self.annotations(name)
        checked = {}
        for key, value in kwargs.items():
            if key not in accepted:
                listing = ", ".join(accepted) or "none"
                raise DabenchError(f"{self.kind} '{name}': unknown parameter '{key}'; accepted: {listing}"
                                   f"{_suggest(key, list(accepted))}")
            if key not in annotations:
                checked[key] = value
                continue
            # YAML has lists, not tuples; a validated tuple is stored back as the list the config holds.
            candidate = tuple(value) if isinstance(value, list) and "tuple" in str(annotations[key]) else value
            try:
                valid = TypeAdapter(annotations[key], config=STRICT).validate_python(candidate)
                checked[key] = list(valid) if isinstance(valid, tuple) else valid
            except ValidationError as err:
                problem = err.errors()[0]["msg"]
                raise DabenchError(f"{self.kind} '{name}': parameter '{key}' = {value!r}: {problem} "
                                   f"(expected {_type_name(annotations[key])})") from None
        return checked

    def build(self, spec: str | dict[str, Any], **extra: Any) -> Any:
        """Build from ``"name"`` or ``{"name": ..., **kwargs}``; kwargs are checked against the signature."""
        name, kwargs = split_spec(spec)
        return self.get(name)(**self.check_kwargs(name, kwargs), **extra)


PLUGIN_GROUP = "dabench.plugins"


@functools.cache
def load_plugins() -> None:
    """Import every module that an installed package declares in the ``dabench.plugins`` entry-point
    group; importing it registers its methods, datasets or backbones with the decorators."""
    for entry_point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            entry_point.load()
        except Exception as err:  # a broken plugin names itself instead of breaking every command
            raise DabenchError(f"plugin {entry_point.name} ({entry_point.value}, from the {PLUGIN_GROUP} entry points) "
                               f"failed to import: {type(err).__name__}: {err}; fix or uninstall that package") from err


def _type_name(annotation) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def split_spec(spec: str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``"dann"`` -> ("dann", {}); ``{"name": "dann", "trade_off": 1}`` -> ("dann", {"trade_off": 1})."""
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, dict) or "name" not in spec:
        raise DabenchError(f"expected a name or a mapping with a 'name' key, got {spec!r}")
    kwargs = dict(spec)
    return kwargs.pop("name"), kwargs
