"""Comparing methods over many cells the way Demšar (JMLR 2006) asks.

- Per cell (method, pair): the paired t-test over seeds is corrected for the number of cells in the
  table with Holm's step-down procedure (statsmodels ``multipletests``), so one table of 60 cells
  does not show three "significant" gains by chance at alpha 0.05.
- Across pairs: a Friedman test on the methods' ranks per pair (scipy), then the Nemenyi post-hoc
  test (scikit-posthocs) and a critical-difference diagram. Pairs are the blocks, not seeds: runs
  of one pair share its data and are not independent samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dabench.io import save_figure


def holm(p_values: pd.Series) -> pd.Series:
    """Holm-adjusted p-values over the non-NaN entries of `p_values`; NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    out = pd.Series(np.nan, index=p_values.index)
    known = p_values.dropna()
    if len(known):
        out[known.index] = multipletests(known.to_numpy(), method="holm")[1]
    return out


@dataclass
class Friedman:
    """The test over `pairs` (blocks) of `ranks` (average rank per method, 1 = best)."""

    pairs: list[str]
    ranks: pd.Series
    statistic: float
    p_value: float
    nemenyi: pd.DataFrame  # methods x methods p-values


def friedman(means: pd.DataFrame) -> Friedman | None:
    """means: (methods x pairs) mean accuracy. Pairs without every method are left out; None with
    fewer than 3 methods or 2 complete pairs (the test is not defined)."""
    import scikit_posthocs
    from scipy import stats

    blocks = means.dropna(axis=1).T  # pairs x methods
    if blocks.shape[1] < 3 or blocks.shape[0] < 2:
        return None
    statistic, p_value = stats.friedmanchisquare(*(blocks[m].to_numpy() for m in blocks.columns))
    ranks = blocks.rank(axis=1, ascending=False).mean().sort_values()
    nemenyi = scikit_posthocs.posthoc_nemenyi_friedman(blocks.to_numpy())
    nemenyi.index = nemenyi.columns = blocks.columns
    return Friedman(list(blocks.index), ranks, float(statistic), float(p_value), nemenyi)


def verdict(result: Friedman | None, alpha: float = 0.05, blocks: str = "pairs") -> list[str]:
    """A few lines of Markdown: the Friedman test and which methods the Nemenyi test separates; `blocks` names
    what the test's blocks are (domain pairs, or the domains of a stream)."""
    if result is None:
        return [f"Not computed: the Friedman test needs at least 3 methods and 2 {blocks} that every method finished."]
    k, n = len(result.ranks), len(result.pairs)
    lines = [f"Friedman test over {n} {blocks} and {k} methods: χ² = {result.statistic:.2f}, "
             f"p = {result.p_value:.3g}. Average rank per method (1 = best): "
             + ", ".join(f"{m} {r:.2f}" for m, r in result.ranks.items()) + "."]
    if n < 5:
        lines.append(f"With {n} {blocks} the test has little power (Demšar 2006 asks for more data sets than that); "
                     f"read the ranks as descriptive.")
    if not result.p_value < alpha:
        return lines + [f"No evidence that the methods rank differently (p ≥ {alpha}); no post-hoc test is run."]
    methods = list(result.ranks.index)
    separated = [f"{a} over {b} (p = {result.nemenyi.loc[a, b]:.3g})" for i, a in enumerate(methods)
                 for b in methods[i + 1:] if result.nemenyi.loc[a, b] < alpha]
    return lines + ["Nemenyi post-hoc test: " + ("; ".join(separated) if separated else
                                                 f"no two methods differ at α = {alpha}") + "."]


def diagram(result: Friedman, path: Path, alpha: float = 0.05) -> None:
    """The critical-difference diagram (scikit-posthocs): methods on the average-rank axis, joined by a
    bar where the Nemenyi test does not separate them."""
    import scikit_posthocs
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.45 * len(result.ranks) + 1.2))
    ax = fig.add_subplot()
    scikit_posthocs.critical_difference_diagram(result.ranks, result.nemenyi, ax=ax, alpha=alpha)
    ax.set_title(f"Average rank over {len(result.pairs)} pairs; Friedman p = {result.p_value:.3g}, Nemenyi α = {alpha}",
                 fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
