"""Selection rules: pure functions that choose one checkpoint of one sweep point per run group.

A run group is the runs of one method, pair and seed: one run per sweep point (one run when
the benchmark has no ``sweep:``), each with its evaluation records (one per checkpoint).
A rule picks a (run, record) pair; the table reports that record's target test accuracy.

- ``last``: the last checkpoint of each run; among sweep points, the best source validation
  accuracy at that checkpoint (DomainBed's training-domain validation).
- ``source_val``: the checkpoint and point with the best source validation accuracy.
- one rule per validator (``entropy``, ``im``, ``bnm``, ``snd``, ``dev``, ``iwcv``): its best score.
- ``oracle``: the best target test accuracy. It reads target labels, and is labelled ORACLE.

Every rule except ``oracle`` is handed records with every ``target_test_*`` score removed, so it cannot
read target labels even by mistake. Ties go to the later checkpoint, then the earlier sweep point.
"""
from __future__ import annotations

import math

from dabench.errors import DabenchError
from dabench.selection.validators import VALIDATORS

ORACLE_KEY = "target_test_acc"


def rule_names() -> list[str]:
    return ["last", "source_val", *VALIDATORS.names(), "oracle"]


def describe(rule: str, sweep: bool = True) -> str:
    """The rule in words, for table footers; `sweep`: whether the runs have several sweep points."""
    check(rule)
    over = " over checkpoints and sweep points" if sweep else " over checkpoints"
    if rule == "last":
        return "last checkpoint" + (" (among sweep points: best source validation accuracy there)" if sweep else "")
    if rule == "source_val":
        return "best source validation accuracy (held-out source split)" + over
    if rule == "oracle":
        return "ORACLE: best target-test accuracy" + over + " (uses target labels)"
    return f"validator '{rule}' ({VALIDATORS.get(rule).better} is better; label-free)" + over


def check(rule: str) -> None:
    if rule not in rule_names():
        raise DabenchError(f"unknown selection rule '{rule}'; known: {', '.join(rule_names())}")


def score_key(rule: str) -> tuple[str, float]:
    """(record key, sign) such that sign * record[key] is larger for a better checkpoint."""
    if rule in ("last", "source_val"):
        return "source_val_acc", 1.0
    if rule == "oracle":
        return ORACLE_KEY, 1.0
    return f"score/{rule}", 1.0 if VALIDATORS.get(rule).better == "higher" else -1.0


def label_free(record: dict) -> dict:
    """`record` without the target test scores (target_test_acc and the open-set target_test_*: the
    keys are dropped, their values never read)."""
    return {k: v for k, v in record.items() if not k.startswith("target_test")}


def select(runs: list[list[dict]], rule: str) -> tuple[int, int]:
    """(run index, record index) chosen by `rule` among `runs`, each a list of evaluation records."""
    check(rule)
    visible = runs if rule == "oracle" else [[label_free(r) for r in records] for records in runs]
    key, sign = score_key(rule)
    candidates = [(i, j) for i, records in enumerate(visible) for j in range(len(records))
                  if rule != "last" or j == len(records) - 1]
    if not candidates:
        raise DabenchError("no evaluation records to select from")
    missing = [i for i, j in candidates if key not in visible[i][j]]
    if missing:
        raise DabenchError(f"rule '{rule}' needs '{key}' in every evaluation record, and some runs were recorded "
                           f"without it (by an older dabench); rerun them or use --select last or oracle")

    def goodness(candidate: tuple[int, int]) -> tuple[float, int, int]:
        i, j = candidate
        value = sign * visible[i][j][key]
        return (-math.inf if math.isnan(value) else value, visible[i][j]["step"], -i)

    return max(candidates, key=goodness)
