"""Selection rules choose among checkpoints and sweep points; every rule but the oracle works with
the target test accuracy poisoned; sweeps expand into cells; the poison-label end-to-end test."""
import math

import pytest

from dabench.bench.grid import load_grid
from dabench.bench.sweep import sweep_points
from dabench.errors import DabenchError
from dabench.selection import rules
from dabench.testing import poison_toy_labels, unlocking


def record(step, acc, val, entropy, **more):
    return {"step": step, "target_test_acc": acc, "source_val_acc": val, "score/entropy": entropy,
            **{f"score/{k}": v for k, v in more.items()}}


RUNS = [  # two sweep points, three checkpoints each
    [record(10, 50.0, 80.0, 0.9), record(20, 70.0, 90.0, 0.5), record(30, 60.0, 85.0, 0.4)],
    [record(10, 55.0, 95.0, 0.8), record(20, 90.0, 88.0, 0.6), record(30, 65.0, 87.0, 0.7)],
]


def test_each_rule_picks_its_checkpoint_and_sweep_point():
    assert rules.select(RUNS, "last") == (1, 2)        # last checkpoints: val 85 vs 87
    assert rules.select(RUNS, "source_val") == (1, 0)  # val 95
    assert rules.select(RUNS, "entropy") == (0, 2)     # lowest entropy 0.4
    assert rules.select(RUNS, "oracle") == (1, 1)      # target 90
    assert rules.select(RUNS[:1], "last") == (0, 2)


def test_ties_go_to_the_later_checkpoint_then_the_earlier_point_and_nan_loses():
    runs = [[record(1, 0, 90.0, 0.5), record(2, 0, 90.0, 0.5)], [record(1, 0, 90.0, 0.5), record(2, 0, 90.0, 0.5)]]
    assert rules.select(runs, "source_val") == (0, 1)
    runs = [[record(1, 0, 90.0, math.nan), record(2, 0, 90.0, 3.0)]]
    assert rules.select(runs, "entropy") == (0, 1)


class Poison:
    """A stand-in for a label-derived value: any use raises."""

    def _raise(self, *args):
        raise AssertionError("a selection rule read the target test accuracy")

    __float__ = __lt__ = __gt__ = __le__ = __ge__ = __eq__ = __neg__ = __mul__ = __rmul__ = _raise
    __hash__ = None


def test_no_rule_but_the_oracle_reads_target_accuracy():
    open_set_scores = {key: Poison() for key in ("target_test_os", "target_test_os_star", "target_test_unk")}
    poisoned = [[{**r, "target_test_acc": Poison(), **open_set_scores, **{f"score/{name}": r["score/entropy"]
                                                        for name in rules.rule_names() if name not in (
                                                            "last", "source_val", "oracle")}}
                 for r in run] for run in RUNS]
    for rule in rules.rule_names():
        if rule == "oracle":
            with pytest.raises(AssertionError, match="read the target test accuracy"):
                rules.select(poisoned, rule)
        else:
            rules.select(poisoned, rule)


def test_unknown_rule_and_missing_scores_are_named():
    with pytest.raises(DabenchError, match="unknown selection rule 'entropi'; known: last, source_val"):
        rules.select(RUNS, "entropi")
    with pytest.raises(DabenchError, match="needs 'score/snd'.*rerun them or use --select last or oracle"):
        rules.select(RUNS, "snd")


def test_grid_sweep_is_the_product_of_the_lists():
    points = sweep_points({"optim.lr": [0.01, 0.03], "method.trade_off": [0.3, 1.0, 3.0]})
    assert len(points) == 6
    assert {(p["optim.lr"], p["method.trade_off"]) for p in points} == {
        (lr, t) for lr in (0.01, 0.03) for t in (0.3, 1.0, 3.0)}


def test_random_sweep_is_seeded_and_within_bounds():
    block = {"n": 5, "seed": 3, "optim.lr": "loguniform(0.001, 0.1)", "method.trade_off": [0.3, 1.0]}
    points = sweep_points(block)
    assert points == sweep_points(block) and len(points) == 5
    assert all(0.001 <= p["optim.lr"] <= 0.1 and p["method.trade_off"] in (0.3, 1.0) for p in points)
    assert points != sweep_points({**block, "seed": 4})
    assert len({p["optim.lr"] for p in points}) == 5


@pytest.mark.parametrize("block, message", [
    ({"lr": [0.1]}, "'lr' is not a dotted config key"),
    ({"optim.lr": "logunif(0.1, 1)"}, "not a list or a distribution"),
    ({"optim.lr": "loguniform(0, 1)"}, "needs 0 < a < b"),
    ({"optim.lr": "uniform(1, x)"}, "bounds of 'uniform\\(1, x\\)' are not numbers"),
    ({"n": 0, "optim.lr": [0.1]}, "n must be an integer from 1 to 10,000"),
    ({"optim.lr": "uniform(0, 1)"}, "n must be an integer from 1 to 10,000"),
    ({"n": 1_000_000, "optim.lr": "uniform(0, 1)"}, "got 1000000; split a larger search into files"),
    ({"optim.lr": []}, "an empty list"),
    ({"n": 3}, "no parameter to sweep"),
])
def test_bad_sweep_blocks_are_named(block, message):
    with pytest.raises(DabenchError, match=message):
        sweep_points(block)


def write_sweep_grid(folder, extra=""):
    path = folder / "sweep.yaml"
    path.write_text("dataset: toy\npairs: [[a, b]]\nmethods: [source_only, dann]\nseeds: [0]\n"
                    "model: {backbone: {name: mlp, hidden: [16]}, bottleneck_dim: 8}\n"
                    "trainer: {steps: 30, batch_size: 16, eval_every: 10, log_every: 10}\n"
                    "sweep: {optim.lr: [0.01, 0.03], method.trade_off: [0.3, 1.0]}\n" + extra)
    return path


def test_method_keys_of_a_sweep_apply_only_to_methods_that_take_them(tmp_path):
    grid = load_grid(write_sweep_grid(tmp_path))
    by_method = {m: [c for c in grid.cells if c.method == m] for m in grid.methods}
    assert len(by_method["source_only"]) == 2 and len(by_method["dann"]) == 4
    assert {tuple(c.sweep) for c in by_method["source_only"]} == {("optim.lr",)}
    assert {c.config["method"]["trade_off"] for c in by_method["dann"]} == {0.3, 1.0}
    assert len({c.cell_id for c in grid.cells}) == 6


def test_a_swept_method_key_that_no_method_takes_is_refused(tmp_path):
    path = write_sweep_grid(tmp_path)
    path.write_text(path.read_text().replace("method.trade_off", "method.tradeoff"))
    with pytest.raises(DabenchError, match=r"sweep: method.tradeoff: no method of the grid takes 'tradeoff'; their "
                                           r"parameters: source_only: label_smoothing; dann: trade_off, hidden"):
        load_grid(path)


def test_bad_select_in_a_benchmark_file_is_named(tmp_path):
    with pytest.raises(DabenchError, match="sweep.yaml: unknown selection rule 'best'"):
        load_grid(write_sweep_grid(tmp_path, "select: best\n"))


def test_sweep_and_every_rule_run_with_target_labels_poisoned(tmp_path, monkeypatch):
    """Training, validators, tables under every non-oracle rule: none reads a target label. The oracle's
    accuracy is the one reader, unlocked; each rule is then handed the records with their target
    accuracy poisoned too."""
    import dabench.evaluate
    from dabench.bench.benchmark import run_benchmark
    from dabench.bench.report import render
    from dabench.bench.store import ResultStore
    poison_toy_labels(monkeypatch, {"b"})
    monkeypatch.setattr(dabench.evaluate, "oracle_scores", unlocking(dabench.evaluate.oracle_scores))
    out = tmp_path / "out"
    run_benchmark(write_sweep_grid(tmp_path, "tsne: false\nfigures: false\n"), out, progress_bar=False)
    rows = ResultStore(out).rows()
    assert len(rows) == 6 and all(len(r["records"]) == 3 for r in rows)
    for rule in rules.rule_names():
        assert render(out, select=rule)["md"]
        groups = {}
        for row in rows:
            groups.setdefault((row["method"], row["seed"]), []).append(
                [{**rec, "target_test_acc": Poison()} for rec in row["records"]])
        for runs in groups.values():
            if rule == "oracle":
                with pytest.raises(AssertionError):
                    rules.select(runs, rule)
            else:
                rules.select(runs, rule)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The toy sweep grid, run once for the tests that read its store."""
    from dabench.bench.benchmark import run_benchmark

    folder = tmp_path_factory.mktemp("swept")
    run_benchmark(write_sweep_grid(folder, "tsne: false\n"), folder / "out", progress_bar=False)
    return folder / "out"


def test_every_rule_renders_a_table_that_names_it(swept):
    from dabench.bench.report import render

    for rule in rules.rule_names():
        md = render(swept, select=rule)["md"]
        assert f"- Selection: {rules.describe(rule)}" in md and "- Sweep: optim.lr ∈ [0.01, 0.03]" in md
        assert "(up to 4 points per method;" in md
        assert ("ORACLE" in md.splitlines()[0]) == (rule == "oracle")


def test_compare_selection_regret_and_rank_correlation_match_the_records(swept):
    import numpy as np
    from scipy import stats

    from dabench.bench.selection import chosen, compare, rank_correlations
    from dabench.bench.store import ResultStore

    rows = ResultStore(swept).rows()
    long = chosen(rows)
    dann = [r for r in rows if r["method"] == "dann"]
    for rule in rules.rule_names():
        i, j = rules.select([r["records"] for r in dann], rule)
        mine = long[(long.method == "dann") & (long.rule == rule)].iloc[0]
        best = max(rec["target_test_acc"] for r in dann for rec in r["records"])
        assert mine.value == dann[i]["records"][j]["target_test_acc"]
        assert mine.regret == pytest.approx(best - mine.value) and mine.regret >= 0
    records = [rec for r in dann for rec in r["records"]]
    rho = rank_correlations(rows).set_index(["method", "rule"]).loc[("dann", "entropy"), "rho"]
    expected = stats.spearmanr([-rec["score/entropy"] for rec in records], [rec["target_test_acc"] for rec in records])
    assert rho == pytest.approx(expected.statistic) or (np.isnan(rho) and np.isnan(expected.statistic))
    md = compare(swept)["md"]
    assert "| method | last | source_val |" in md and "ORACLE" in md and "Spearman" in md
    assert (swept / "selection.md").read_text() == md and (swept / "figures" / "selection.png").stat().st_size > 0


def test_table_command_takes_a_rule_and_compares_them(swept, capsys):
    from dabench.cli import main

    def table(*args):
        capsys.readouterr()
        code = main(["table", str(swept), *args])
        return code, *capsys.readouterr()

    assert "validator 'snd'" in table("--select", "snd")[1]
    assert table("--compare-selection")[1] == (swept / "selection.md").read_text()
    code, _, err = table("--select", "best")
    assert code != 0 and "unknown selection rule 'best'; known: last, source_val" in err
    assert len(err.strip().splitlines()) == 1
