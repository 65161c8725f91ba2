"""``dabench table --compare-selection``: every selection rule side by side, what each costs
against the oracle (regret), and how well each label-free score ranks checkpoints (Spearman).

All of it is a function of results.jsonl: the records of every checkpoint of every run.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from dabench.bench.report import _fmt, _md, protocol_footer, run_values
from dabench.bench.store import ResultStore
from dabench.errors import DabenchError
from dabench.io import write_bytes_atomic
from dabench.selection import rules


def available_rules(rows: list[dict]) -> list[str]:
    """The rules whose score every record holds (a store from before a validator existed lacks it)."""
    return [rule for rule in rules.rule_names()
            if all(rules.score_key(rule)[0] in record for row in rows for record in row["records"])]


def chosen(rows: list[dict]) -> pd.DataFrame:
    """Long table: method, pair, seed, rule, value (target accuracy of the rule's choice), regret
    (the oracle's choice minus it, points), step and sweep point chosen."""
    per_rule = []
    for rule in available_rules(rows):
        values = run_values(rows, select=rule)
        per_rule.append(values.assign(rule=rule))
    long = pd.concat(per_rule, ignore_index=True)
    oracle = long[long.rule == "oracle"].set_index(["method", "pair", "seed"])["value"]
    long["regret"] = oracle.reindex(pd.MultiIndex.from_frame(long[["method", "pair", "seed"]])).values - long["value"]
    return long


def rank_correlations(rows: list[dict]) -> pd.DataFrame:
    """Spearman's rho between each rule's score (signed: larger is better) and target accuracy across the
    checkpoints and sweep points of each run group (method, pair, seed); columns method, pair, seed,
    rule, rho, n. rho is NaN for fewer than 3 checkpoints or a constant score."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], f"{row['source']}→{row['target']}", row["seed"]), []).extend(row["records"])
    out = []
    for (method, pair, seed), records in groups.items():
        accuracy = [r[rules.ORACLE_KEY] for r in records]
        for rule in available_rules(rows):
            if rule in ("last", "oracle"):
                continue
            key, sign = rules.score_key(rule)
            score = [sign * r.get(key, math.nan) for r in records]
            usable = len(records) >= 3 and np.isfinite(score).all() and np.ptp(score) > 0 and np.ptp(accuracy) > 0
            rho = stats.spearmanr(score, accuracy).statistic if usable else math.nan
            out.append({"method": method, "pair": pair, "seed": seed, "rule": rule, "rho": rho, "n": len(records)})
    return pd.DataFrame(out, columns=["method", "pair", "seed", "rule", "rho", "n"])


def compare(root) -> dict[str, str]:
    """{"md": ..., "csv": ...}: accuracy under every rule, regret and rank correlation per method."""
    store = ResultStore(root)
    grid, rows = store.grid(), store.rows()
    if not rows:
        raise DabenchError(f"{root}: no finished runs to compare selection rules on")
    methods = [m for m in grid["methods"] if any(r["method"] == m for r in rows)]
    names = available_rules(rows)
    missing = [r for r in rules.rule_names() if r not in names]
    long, rho = chosen(rows), rank_correlations(rows)
    accuracy = long.groupby(["method", "rule"])["value"].mean().unstack("rule").reindex(index=methods, columns=names)
    regret = long.groupby(["method", "rule"])["regret"].mean().unstack("rule").reindex(index=methods, columns=names)
    correlation = rho.groupby(["method", "rule"])["rho"].mean().unstack("rule")
    scored = [r for r in names if r not in ("last", "oracle")]
    correlation = correlation.reindex(index=methods, columns=scored)
    header = ["method", *[r.upper() if r == "oracle" else r for r in names]]
    per_run = sorted({len(r["records"]) for r in rows})
    groups = pd.Series([(r["method"], r["source"], r["target"], r["seed"]) for r in rows]).value_counts()

    def table(frame, spec):
        body = [[m, *[_fmt(frame.loc[m, c], spec) for c in frame.columns]] for m in methods]
        return body + [["mean", *[_fmt(frame[c].mean(), spec) for c in frame.columns]]]

    md = [f"# {grid['name']}: model selection compared, {grid['dataset']}", "",
          f"{len(groups)} run groups (method, pair, seed), {len(rows)} runs: up to {int(groups.max())} sweep "
          f"point(s) per group and {', '.join(map(str, per_run))} checkpoint(s) per run. Every rule but ORACLE is "
          f"label-free.", "",
          "## Target accuracy (%) of the rule's choice, mean over pairs and seeds", "",
          _md(header, table(accuracy, ".1f")),
          "## Regret: ORACLE − rule (points), mean over pairs and seeds", "",
          "How much the oracle flatters a method against an honest rule; 0 means the rule found the "
          "oracle's checkpoint.", "",
          _md(header, table(regret, ".1f")),
          "## Rank correlation with target accuracy (Spearman ρ)", "",
          "Per run group, ρ between the rule's score (signed so larger is better) and target test accuracy "
          "across every checkpoint and sweep point; mean over groups (groups with fewer than 3 checkpoints or "
          "a constant score are left out).", "",
          _md(["method", *scored], table(correlation, "+.2f")),
          "## Rules", "", *[f"- {r}: {rules.describe(r)}" for r in names],
          *([f"- not recorded by these runs (an older dabench): {', '.join(missing)}"] if missing else []), "",
          "## Protocol", "", *protocol_footer(rows, "oracle")[1:], ""]
    csv = long.drop(columns=["sweep"]).assign(sweep=[repr(s) for s in long["sweep"]])
    csv = csv.merge(rho, on=["method", "pair", "seed", "rule"], how="left")
    return {"md": "\n".join(md), "csv": csv.to_csv(index=False, float_format="%.4f")}


def write_comparison(root) -> dict[str, str]:
    """compare(root), also written to selection.md and selection.csv in the folder."""
    outputs = compare(root)
    for ext, text in outputs.items():
        write_bytes_atomic(text.encode(), Path(root) / f"selection.{ext}")
    return outputs
