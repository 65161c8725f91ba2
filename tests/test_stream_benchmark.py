"""`dabench bench` on a stream benchmark file: every method x stream variant x seed, the tables with per-domain
errors and negative transfer marked, the curves, and a rerun that recomputes nothing."""
import csv

import pytest
import yaml
from test_stream import STREAM

from dabench.cli import main
from dabench.errors import DabenchError
from dabench.stream.benchmark import load_stream_grid

GRID = {"setting": "stream", **{k: v for k, v in STREAM.items() if k not in ("method", "seed")},
        "methods": ["bn_adapt", {"name": "tent", "label": "tent_fast", "lr": 0.05}], "seeds": [0],
        "streams": {"iid": {}, "bursts": {"order": "dirichlet", "dirichlet_alpha": 0.01}}}


def test_a_stream_benchmark_writes_the_study_table_per_domain_errors_and_curves(tmp_path, capsys):
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(GRID, sort_keys=False))
    out = tmp_path / "out"
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(out), "--quiet"]) == 0
    table = (out / "table.md").read_text()
    assert "| method | iid | bursts |" in table and "online error" in table
    rows = list(csv.DictReader((out / "per_domain.csv").open()))
    assert {(r["stream"], r["method"], r["domain"]) for r in rows} == {
        (s, m, d) for s in ("iid", "bursts") for m in ("source", "bn_adapt", "tent_fast") for d in ("b", "c")}
    by = {(r["stream"], r["method"], r["domain"]): float(r["online_error"]) for r in rows}
    source_bursts = (by[("bursts", "source", "b")] + by[("bursts", "source", "c")]) / 2
    bn_bursts = (by[("bursts", "bn_adapt", "b")] + by[("bursts", "bn_adapt", "c")]) / 2
    # class bursts break test-batch statistics: normalising with one class's statistics hurts, marked ▼
    assert bn_bursts > source_bursts and f"{bn_bursts:.1f} ▼" in table
    assert (out / "curves.png").is_file() and (out / "runs" / "bursts" / "tent_fast" / "seed0" / "result.json").is_file()
    capsys.readouterr()
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(out), "--quiet"]) == 0
    assert "ran 0 run(s), 6 already finished" in capsys.readouterr().out
    assert main(["table", str(out)]) == 0 and capsys.readouterr().out == table


def test_one_stream_gives_the_error_of_every_domain(tmp_path):
    grid = {**{k: v for k, v in GRID.items() if k != "streams"}, "methods": ["bn_adapt"]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    header = (tmp_path / "out" / "table.md").read_text().split("\n")[4]
    assert header == "| method | b | c | mean | final model, mean |"


@pytest.mark.parametrize("change, message", [
    ({"method": "tent"}, "a stream benchmark lists `methods`, not `method`"),
    ({"seeds": [0, 0]}, "seeds must list distinct integers >= 0"),
    ({"methods": ["tent", "tent"]}, "methods lists tent twice; give each variant its own 'label'"),
    ({"methods": ["tenth"]}, "stream iid, method tenth: unknown test-time method 'tenth'"),
    ({"streams": {"b1": {"batch_size": 0}}}, "stream b1, method source: stream: batch_size"),
])
def test_a_bad_stream_benchmark_file_is_a_one_line_error_naming_the_file(change, message, tmp_path):
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({**GRID, **change}, sort_keys=False))
    with pytest.raises(DabenchError) as err:
        load_stream_grid(tmp_path / "grid.yaml")
    assert message in str(err.value) and str(tmp_path / "grid.yaml") in str(err.value) and "\n" not in str(err.value)


def test_a_published_number_is_printed_only_beside_the_same_dataset_backbone_and_stream(tmp_path, monkeypatch,
                                                                                         capsys):
    import json

    import dabench.stream.benchmark as benchmark

    grid = {**{k: v for k, v in GRID.items() if k != "streams"}, "methods": ["bn_adapt"]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    record = {"setting": "test-time continual", "dabench_dataset": "toy", "dabench_backbone": "mlp",
              "dabench_targets": ["b", "c"], "dabench_method": "bn_adapt", "error": 12.3, "kind": "paper",
              "source": "a-paper"}
    other = {**record, "dabench_backbone": "wrn28_10", "error": 45.6}
    other_weights = {**record, "dabench_weights": "IMAGENET1K_V1", "error": 78.9}  # this stream's mlp has none
    (tmp_path / "test_time.json").write_text(json.dumps([record, other, other_weights]))
    monkeypatch.setattr(benchmark, "PAPER_RESULTS", tmp_path / "test_time.json")
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    table = (tmp_path / "out" / "table.md").read_text()
    assert "bn_adapt 12.3 (paper, a-paper)" in table and "45.6" not in table and "78.9" not in table
    (tmp_path / "test_time.json").write_text(json.dumps([other]))
    capsys.readouterr()
    assert main(["table", str(tmp_path / "out")]) == 0
    assert "Published numbers: none with this protocol (dataset toy, backbone mlp" in capsys.readouterr().out


def test_gains_over_the_source_are_tested_over_seeds_and_a_committed_folder_renders_and_resumes(tmp_path,
                                                                                                     capsys):
    import json
    import shutil

    from scipy import stats

    grid = {**{k: v for k, v in GRID.items() if k != "streams"}, "methods": ["bn_adapt"], "seeds": [0, 1]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    out = tmp_path / "out"
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(out), "--quiet"]) == 0
    table = (out / "table.md").read_text()
    results = json.loads((out / "results.json").read_text())["default"]
    ours, source = ([r["online_accuracy"] for r in results[label]] for label in ("bn_adapt", "source"))
    gain, p = sum(ours) / 2 - sum(source) / 2, stats.ttest_rel(ours, source).pvalue  # one cell: Holm leaves p as is
    assert "Holm-adjusted over the 1 cells" in table and f"bn_adapt {gain:+.1f} (p = {p:.2g})" in table
    assert "Not computed: the Friedman test needs at least 3 methods and 2 domains" in table
    # A committed results folder keeps results.json, not the run folders: its tables render again from it, and a
    # rerun into it takes its finished streams from it instead of running them again.
    shutil.rmtree(out / "runs")
    capsys.readouterr()
    assert main(["table", str(out)]) == 0 and capsys.readouterr().out == table
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(out), "--quiet"]) == 0
    assert "ran 0 run(s), 4 already finished" in capsys.readouterr().out and (out / "table.md").read_text() == table


def test_a_failed_run_is_listed_and_stays_listed_in_a_committed_folder(tmp_path, capsys):
    import shutil

    # TENT trains the bottleneck's batch norm: on a batch of one it cannot, and the stream fails there.
    grid = {**{k: v for k, v in GRID.items() if k != "streams"}, "methods": ["tent"],
            "streams": {"one": {"batch_size": 1}}}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    out = tmp_path / "out"
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(out), "--quiet"]) == 0
    table = (out / "table.md").read_text()
    assert "Failed runs" in table and "- one/tent/seed0: ValueError: Expected more than 1 value per channel" in table
    shutil.rmtree(out / "runs")
    capsys.readouterr()
    assert main(["table", str(out)]) == 0 and capsys.readouterr().out == table


@pytest.mark.data
@pytest.mark.parametrize("name", ["tta_digits", "tta_digits_c", "tta_coil20_c", "tta_spoken_digits_c",
                                  "tta_study_digits"])
def test_every_committed_stream_keeps_its_hash(name, data_root):
    """A rerun into a committed stream table reuses its finished streams only if today's code resolves each of
    its cells to the config hash the stream was stored under (a key added later must hash only when set). The
    thread count is part of the hash (CPU results depend on it): each cell resolves at the count it ran with."""
    import json
    from pathlib import Path

    from dabench.stream.protocol import resolve_stream
    from dabench.trainer import torch_threads

    folder = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / name
    stored = {(variant, label, run["seed"]): run["config"] | {"hash": run["config_hash"]}
              for variant, by_label in json.loads((folder / "results.json").read_text()).items()
              for label, runs in by_label.items() for run in runs}
    cells = {(variant, label, seed): config for variant, label, seed, config in
             load_stream_grid(folder / "grid.yaml", [])["cells"] if (variant, label, seed) in stored}
    assert len(cells) == len(stored)
    for cell, config in cells.items():
        with torch_threads(stored[cell]["run"]["trainer"]["threads"]):
            assert resolve_stream(config)["hash"] == stored[cell]["hash"], cell
