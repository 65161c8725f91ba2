"""Holm correction, Friedman test, Nemenyi post-hoc and the critical-difference diagram against hand values."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dabench.bench import ranking


def test_holm_adjusts_the_known_p_values_and_keeps_nan():
    adjusted = ranking.holm(pd.Series([0.01, 0.04, 0.03, np.nan]))
    # sorted 0.01, 0.03, 0.04 with m = 3: 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert adjusted[:3].tolist() == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[3])


def consistent_order(pairs: int) -> pd.DataFrame:
    """Methods a > b > c on every pair."""
    return pd.DataFrame({f"p{i}": [90.0 + i, 80.0 + i, 70.0 + i] for i in range(pairs)}, index=["a", "b", "c"])


def test_friedman_and_nemenyi_on_a_consistent_order():
    result = ranking.friedman(consistent_order(4))
    # rank sums 4, 8, 12 over n = 4 pairs, k = 3: 12 / (n k (k + 1)) * 224 - 3 n (k + 1) = 8
    assert result.statistic == pytest.approx(8.0) and result.p_value == pytest.approx(math.exp(-4))
    assert result.ranks.to_dict() == {"a": 1.0, "b": 2.0, "c": 3.0}
    # Nemenyi: q = |R_a - R_c| / sqrt(k (k + 1) / (6 n)), p from the studentized range at q sqrt(2)
    q = 2 / math.sqrt(12 / 24)
    assert result.nemenyi.loc["a", "c"] == pytest.approx(stats.studentized_range.sf(q * math.sqrt(2), 3, np.inf))
    text = "\n".join(ranking.verdict(result))
    assert "χ² = 8.00, p = 0.0183" in text and "little power" in text
    assert "Nemenyi post-hoc test: a over c (p = 0.013)." in text


def test_friedman_leaves_out_incomplete_pairs_and_needs_three_methods():
    means = consistent_order(3)
    means.loc["b", "p2"] = np.nan
    assert ranking.friedman(means).pairs == ["p0", "p1"]
    assert ranking.friedman(means.loc[["a", "b"]]) is None
    assert ranking.verdict(None)[0].startswith("Not computed")


def test_no_post_hoc_without_a_significant_friedman_test():
    means = pd.DataFrame({"p0": [1.0, 2.0, 3.0], "p1": [3.0, 2.0, 1.0], "p2": [2.0, 3.0, 1.0]}, index=["a", "b", "c"])
    text = "\n".join(ranking.verdict(ranking.friedman(means)))
    assert "No evidence that the methods rank differently" in text and "Nemenyi" not in text


def test_critical_difference_diagram_is_written(tmp_path):
    ranking.diagram(ranking.friedman(consistent_order(6)), tmp_path / "cd.png")
    assert (tmp_path / "cd.png").stat().st_size > 1000 and (tmp_path / "cd.pdf").is_file()
