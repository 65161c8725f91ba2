"""A benchmark file's ``sweep:`` block -> hyper-parameter points, each applied as overrides.

    sweep:                                 # grid: every combination of the lists
      optim.lr: [0.003, 0.01, 0.03]
      method.trade_off: [0.3, 1.0]

    sweep:                                 # random: n points drawn with the seed
      n: 8
      seed: 0
      optim.lr: loguniform(0.001, 0.1)
      method.trade_off: [0.3, 1.0, 3.0]    # a list is a uniform choice

Keys are dotted config keys. ``method.<key>`` applies to the methods whose constructor takes
``<key>`` (source_only has no trade_off); points that then coincide run once. Distributions:
``loguniform(a, b)``, ``uniform(a, b)``, ``randint(a, b)`` (scipy.stats, a <= x < b for randint).
Points come from scikit-learn's ParameterGrid / ParameterSampler; drawn floats keep 4 significant
digits so points read well in tables. Each point is an ordinary cell of the store.
"""
from __future__ import annotations

import re
from typing import Any

from dabench.errors import DabenchError

RESERVED = ("n", "seed")
DISTRIBUTION = re.compile(r"^\s*(loguniform|uniform|randint)\(\s*([^,]+?)\s*,\s*([^,]+?)\s*\)\s*$")


# Every point is resolved (validated) before any run starts; a million would hang there for hours.
MAX_POINTS = 10_000


def distribution(key: str, text: str):
    """A scipy.stats frozen distribution from "loguniform(a, b)", "uniform(a, b)" or "randint(a, b)"."""
    from scipy import stats

    match = DISTRIBUTION.match(text)
    if not match:
        raise DabenchError(f"sweep: {key}: '{text}' is not a list or a distribution; write a list of values, "
                           f"loguniform(a, b), uniform(a, b) or randint(a, b)")
    kind, low, high = match.groups()
    try:
        low, high = (int(low), int(high)) if kind == "randint" else (float(low), float(high))
    except ValueError:
        raise DabenchError(f"sweep: {key}: the bounds of '{text}' are not numbers") from None
    if not low < high or (kind == "loguniform" and low <= 0):
        raise DabenchError(f"sweep: {key}: '{text}' needs {'0 < ' if kind == 'loguniform' else ''}a < b")
    return {"loguniform": lambda: stats.loguniform(low, high), "uniform": lambda: stats.uniform(low, high - low),
            "randint": lambda: stats.randint(low, high)}[kind]()


def sweep_points(block: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The points of a sweep block, each {dotted key: value}; [{}] without a sweep."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if not block:
        return [{}]
    params = {k: v for k, v in block.items() if k not in RESERVED}
    if not params:
        raise DabenchError("sweep: no parameter to sweep; add e.g. optim.lr: [0.003, 0.01]")
    for key, value in params.items():
        if "." not in key:
            raise DabenchError(f"sweep: '{key}' is not a dotted config key (e.g. optim.lr, method.trade_off); the "
                               f"block's own keys are {', '.join(RESERVED)}")
        if isinstance(value, list) and not value:
            raise DabenchError(f"sweep: {key}: an empty list; give at least one value")
    spaces = {k: v if isinstance(v, list) else distribution(k, str(v)) for k, v in params.items()}
    random = "n" in block or any(not isinstance(v, list) for v in params.values())
    if not random:
        return [dict(point) for point in ParameterGrid(spaces)]
    n = block.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_POINTS:
        raise DabenchError(f"sweep: n must be an integer from 1 to {MAX_POINTS:,} (the number of random points, "
                           f"each run for every method, pair and seed), got {n!r}; split a larger search into files")
    seed = block.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DabenchError(f"sweep: seed must be an integer >= 0, got {seed!r}")
    points = ParameterSampler(spaces, n_iter=n, random_state=seed)
    return [{k: _readable(v) for k, v in sorted(point.items())} for point in points]


def _readable(value):
    if hasattr(value, "item"):  # numpy scalars from scipy
        value = value.item()
    return float(f"{value:.4g}") if isinstance(value, float) else value


def applicable(point: dict[str, Any], method_parameters: dict[str, Any]) -> dict[str, Any]:
    """The part of `point` a method takes: every non-method key, and method.<key> if it has <key>."""
    return {k: v for k, v in point.items()
            if not k.startswith("method.") or k.split(".", 1)[1] in method_parameters}
