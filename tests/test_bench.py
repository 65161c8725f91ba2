"""The benchmark runner on the toy dataset: grid expansion, crash safety, concurrency, tables."""
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
from scipy import stats

from dabench.bench.benchmark import run_benchmark
from dabench.bench.grid import load_grid
from dabench.bench.report import gains, optimizer_summary, render, run_values
from dabench.bench.store import ResultStore
from dabench.cli import main
from dabench.errors import DabenchError
from dabench.testing import cli_process

GRID = """
dataset: toy
pairs: [[a, b], [b, a]]
methods: [source_only, deep_coral]
seeds: [0, 1]
model: {{backbone: {{name: mlp, hidden: [16]}}, bottleneck_dim: 8}}
overrides: {{trainer.steps: {steps}, trainer.batch_size: 16, trainer.eval_every: {steps}, trainer.log_every: 10}}
"""


def write_grid(tmp_path, steps=20, text=GRID, tsne=False, figures=False):
    """The benchmark file `text`; without `figures` it draws none (the tests that read figures ask for them)."""
    path = tmp_path / "grid.yaml"
    path.write_text(text.format(steps=steps) + ("" if tsne else "tsne: false\n") + ("" if figures else "figures: false\n"))
    return path


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke grid, run once for the tests that only read its store."""
    tmp_path = tmp_path_factory.mktemp("smoke")
    outcome = run_benchmark(write_grid(tmp_path, tsne=True, figures=True), tmp_path / "out", progress_bar=False)
    return tmp_path, outcome


def bench_cli(grid, out, logs):
    """`dabench bench grid --out out --quiet` started in a fresh process, its output written under `logs`."""
    return cli_process(["bench", str(grid), "--out", str(out), "--quiet"], logs)


def finished_output(process, logs) -> str:
    """The stdout of a bench_cli process once it has exited, which it must do without an error."""
    process.join(300)
    assert process.exitcode == 0, (logs / "stderr").read_text()[-2000:]
    return (logs / "stdout").read_text()


def ran_cells(stdout: str) -> list[str]:
    line = [x for x in stdout.splitlines() if x.startswith("ran: ")][-1]
    return [c for c in line[5:].split(",") if c]


def test_minimal_file_expands_to_every_cell_with_stable_ids(tmp_path):
    grid = load_grid(write_grid(tmp_path))
    assert len(grid.cells) == 2 * 2 * 2 and len({c.cell_id for c in grid.cells}) == 8
    assert {c.config["trainer"]["steps"] for c in grid.cells} == {20}
    assert [c.cell_id for c in load_grid(write_grid(tmp_path)).cells] == [c.cell_id for c in grid.cells]
    all_pairs = load_grid(write_grid(tmp_path, text=GRID.replace("[[a, b], [b, a]]", "all")))
    assert all_pairs.pairs == [("a", "b"), ("a", "c"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "b")]


def test_labelled_entries_run_one_method_twice_with_their_own_overrides(tmp_path):
    text = GRID.replace("methods: [source_only, deep_coral]", "methods: [source_only, {{name: source_only, "
                        "label: so_3shot, overrides: {{target_labeled: 3, optim.lr: 0.02}}}}]").replace(
        "[[a, b], [b, a]]", "[[a, b]]").replace("[0, 1]", "[0]")
    grid = load_grid(write_grid(tmp_path, steps=4, text=text))
    assert grid.methods == ["source_only", "so_3shot"]
    labelled = [c for c in grid.cells if c.method == "so_3shot"]
    assert {c.config["target_labeled"] for c in labelled} == {3}
    assert {c.config["optim"]["lr"] for c in labelled} == {0.02}
    assert {c.config["target_labeled"] for c in grid.cells if c.method == "source_only"} == {0}
    run_benchmark(write_grid(tmp_path, steps=4, text=text), tmp_path / "out", progress_bar=False)
    rows = ResultStore(tmp_path / "out").rows()
    assert sorted({r["method"] for r in rows}) == ["so_3shot", "source_only"]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| so_3shot |" in table and "Per-method settings: so_3shot: optim.lr=0.02, target_labeled=3." in table
    # figures: false drew none and did not mark them complete: asking for them later draws them, running nothing.
    assert not (tmp_path / "out" / "figures").exists()
    again = run_benchmark(write_grid(tmp_path, steps=4, text=text, figures=True), tmp_path / "out", progress_bar=False)
    assert set(again["status"].values()) == {"done"} and (tmp_path / "out" / "figures" / "accuracy.png").is_file()
    twice = GRID.replace("methods: [source_only, deep_coral]", "methods: [dann, {{name: dann, trade_off: 0.5}}]")
    with pytest.raises(DabenchError, match="lists a method twice; give each variant its own 'label'"):
        load_grid(write_grid(tmp_path, text=twice))


@pytest.mark.parametrize("change, message", [
    (("methods: [source_only, deep_coral]", "methods: [source_only, dnn]"),
     r"grid.yaml: methods\[1\] dnn: unknown method 'dnn'.*did you mean 'dann'"),
    (("[[a, b], [b, a]]", "[[a, d]]"), r"grid.yaml: pairs: dataset 'toy' has no domain 'd'; its domains: a, b, c"),
    (("seeds: [0, 1]", "seeds: [0, 1]\nsteps: 3"), r"grid.yaml: unknown key 'steps'"),
    (("seeds: [0, 1]", "seeds: [0, 1"), r"grid.yaml line \d+: malformed YAML"),
    (("trainer.steps: {steps}", "trainer.stepz: 3"), r"unknown key 'trainer.stepz'"),
])
def test_bad_benchmark_files_fail_before_training_naming_the_key(tmp_path, change, message):
    path = write_grid(tmp_path, text=GRID.replace(*change))
    with pytest.raises(DabenchError, match=message) as err:
        run_benchmark(path, tmp_path / "out", progress_bar=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_smoke_grid_writes_store_tables_and_figures_and_table_command_reproduces_them(smoke, capsys):
    tmp_path, outcome = smoke
    out = tmp_path / "out"
    assert sorted(outcome["status"].values()) == ["ran"] * 8
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {"target_accuracy", "config", "git_commit", "versions"} <= set(rows[0])
    frame = ResultStore(out).load()
    assert len(frame) == 8 and {"method", "source", "target", "seed", "target_accuracy"} <= set(frame.columns)
    for name in ("table.md", "table.csv", "table.tex", "figures/accuracy.png", "figures/gain_heatmap.png",
                 "figures/tsne.png", "figures/tsne.json", "figures/accuracy.pdf", "figures/gain_heatmap.pdf",
                 "figures/tsne.pdf"):
        assert (out / name).stat().st_size > 0, name
    table = (out / "table.md").read_text()
    assert "| source_only |" in table and "Selection: last checkpoint" in table and "a→b" in table
    assert "## Ranks across pairs\n\nNot computed: the Friedman test needs at least 3 methods" in table  # 2 here
    assert "Holm-corrected over the" in table and "Protocol: **paper**" in table
    assert render(out)["md"] == table
    capsys.readouterr()
    assert main(["table", str(out)]) == 0 and capsys.readouterr().out == table
    again = run_benchmark(write_grid(tmp_path, tsne=True, figures=True), out, progress_bar=False)
    assert set(again["status"].values()) == {"done"}
    # A figure stage interrupted before its end (no complete.json) is redrawn by the next rerun.
    (out / "figures" / "tsne.png").unlink()
    (out / "figures" / "complete.json").unlink()
    run_benchmark(write_grid(tmp_path, tsne=True, figures=True), out, progress_bar=False)
    assert (out / "figures" / "tsne.png").stat().st_size > 0


def test_importing_the_figures_module_keeps_the_matplotlib_backend():
    code = ("import matplotlib; matplotlib.use('svg'); import dabench.bench.figures, dabench.bench.benchmark; "
            "print(matplotlib.get_backend())")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "svg\n"


def test_gain_and_significance_match_hand_computed_values():
    values = pd.DataFrame([
        {"method": m, "pair": "a→b", "seed": s, "value": v, "source": "a", "target": "b"}
        for m, s, v in [("source_only", 0, 50.0), ("source_only", 1, 60.0), ("source_only", 2, 55.0),
                        ("dann", 0, 54.0), ("dann", 1, 61.0), ("dann", 2, 58.0),
                        ("dan", 0, 49.0), ("dan", 1, 59.0), ("dan", 2, 54.0)]])
    g = gains(values, ["source_only", "dann", "dan"], ["a→b"]).set_index("method")
    assert g.loc["dann", "gain"] == pytest.approx((4 + 1 + 3) / 3)
    diffs = [4.0, 1.0, 3.0]
    t = (sum(diffs) / 3) / (pd.Series(diffs).std(ddof=1) / math.sqrt(3))
    assert g.loc["dann", "p_value"] == pytest.approx(2 * stats.t.sf(t, df=2))
    assert g.loc["dan", "gain"] == -1.0 and g.loc["dan", "p_value"] == 0.0  # the same -1 on every seed
    # Holm over the 2 cells: the smallest p (dan's 0) x 2, then max(that, dann's p x 1)
    assert g.loc["dan", "p_holm"] == 0.0 and g.loc["dann", "p_holm"] == pytest.approx(g.loc["dann", "p_value"])


def test_the_footer_names_the_optimizer_that_trained():
    from dabench.schema import Optim

    sgd, adamw = Optim().model_dump(), Optim(optimizer="adamw", lr=0.001).model_dump()
    assert optimizer_summary(sgd) == "SGD lr 0.01 (momentum 0.9, weight decay 0.0005, schedule inv)"
    assert optimizer_summary(adamw) == "AdamW lr 0.001 (betas (0.9, 0.999), weight decay 0.0005, schedule inv)"

def test_oracle_selection_is_labelled_and_reads_the_best_target_epoch(smoke):
    out = smoke[0] / "out"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    last, oracle = run_values(rows, select="last"), run_values(rows, select="oracle")
    assert (oracle.value >= last.value).all()
    assert "ORACLE" in render(out, select="oracle")["md"].splitlines()[0]


def test_killed_grid_restarts_and_finishes_every_cell_exactly_once(tmp_path):
    grid, out = write_grid(tmp_path, steps=30), tmp_path / "out"
    victim = bench_cli(grid, out, tmp_path / "victim")
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("cells/*/result.json"))) < 2:
        time.sleep(0.05)
    victim.kill()
    victim.join()
    finished_before = {p.parent.name for p in out.glob("cells/*/result.json")}
    assert 2 <= len(finished_before) < 8, "the kill came too late to test anything"
    ran = ran_cells(finished_output(bench_cli(grid, out, tmp_path / "rerun"), tmp_path / "rerun"))
    assert not set(ran) & finished_before and len(ran) + len(finished_before) == 8
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["cell_id"] for r in rows) == sorted({r["cell_id"] for r in rows}) and len(rows) == 8
    assert not list(out.glob("cells/*/claim"))


def test_opening_the_store_clears_claims_of_dead_runners_on_finished_cells(tmp_path):
    """The window the kill test hits only by chance: killed after result.json, before releasing."""
    grid, store = load_grid(write_grid(tmp_path)), ResultStore(tmp_path / "out")
    store.write_grid(grid)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    finished, live = grid.cells[0], grid.cells[1]
    (store.cell_dir(finished) / "result.json").write_text("{}")
    for cell, pid in ((finished, int(dead.stdout)), (live, os.getpid())):
        (store.cell_dir(cell) / "claim").write_text(json.dumps({"host": socket.gethostname(), "pid": pid}))
    store.write_grid(grid)
    assert not (store.cell_dir(finished) / "claim").exists()
    assert (store.cell_dir(live) / "claim").exists() and not store.claim(live)


def test_two_concurrent_runners_run_each_cell_once(tmp_path):
    grid, out = write_grid(tmp_path, steps=20), tmp_path / "out"
    runners = [bench_cli(grid, out, tmp_path / f"runner{i}") for i in range(2)]
    outputs = [finished_output(runner, tmp_path / f"runner{i}") for i, runner in enumerate(runners)]
    ran = [ran_cells(stdout) for stdout in outputs]
    assert sorted(ran[0] + ran[1]) == sorted(set(ran[0] + ran[1])) and len(ran[0] + ran[1]) == 8
    assert outputs[0].split("ran ")[0] == outputs[1].split("ran ")[0]  # both print the full table
    assert all(json.loads(p.read_text())["resumed_from_step"] == 0 for p in out.glob("cells/*/result.json"))


def test_local_worker_pool_and_submitit_engine_produce_the_same_results(tmp_path):
    pytest.importorskip("submitit", reason="submitit is the cluster extra (pip install -e '.[slurm]')")
    grid = write_grid(tmp_path, text=GRID.replace("[[a, b], [b, a]]", "[[a, b]]").replace(", deep_coral", ""))
    run_benchmark(grid, tmp_path / "inline", progress_bar=False)
    run_benchmark(grid, tmp_path / "pool", workers=2, progress_bar=False)
    run_benchmark(grid, tmp_path / "submitit", executor="submitit_local", progress_bar=False)
    accuracy = {name: [json.loads(line)["target_accuracy"] for line in
                       (tmp_path / name / "results.jsonl").read_text().splitlines()]
                for name in ("inline", "pool", "submitit")}
    assert accuracy["inline"] == accuracy["pool"] == accuracy["submitit"]


@pytest.mark.data
def test_the_minimal_benchmark_file_expands_as_written(data_root):
    from dabench.config_files import CONFIG_DIR

    grid = load_grid(CONFIG_DIR / "benchmarks" / "minimal.yaml")
    assert grid.pairs == [("amazon", "webcam"), ("webcam", "amazon")]
    assert grid.methods == ["source_only", "dann", "deep_coral"] and grid.seeds == [0, 1]
    assert len(grid.cells) == 12 and {c.config["trainer"]["steps"] for c in grid.cells} == {200}
    assert grid.cells[0].config["model"]["backbone"]["name"] == "mlp"


@pytest.mark.parametrize("name", ["quickstart", "smoke", "office_caltech10_surf", "digits", "methods_digits",
                                  "methods_surf"])
def test_shipped_benchmark_files_are_valid(name):
    from dabench.config_files import CONFIG_DIR

    try:
        grid = load_grid(CONFIG_DIR / "benchmarks" / f"{name}.yaml")
    except DabenchError as err:
        assert "missing" in str(err)  # real data absent on this machine: everything before it was valid
    else:
        assert grid.cells


def test_wandb_groups_runs_and_logs_the_final_table(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is an optional extra (pip install -e '.[wandb]')")
    monkeypatch.setenv("WANDB_SILENT", "true")
    text = GRID.replace("[[a, b], [b, a]]", "[[a, b]]").replace("seeds: [0, 1]", "seeds: [0]")
    grid = load_grid(write_grid(tmp_path, text=text + "logging: {{wandb: true}}\n"))
    assert {c.config["logging"]["wandb_group"] for c in grid.cells} == {"grid"}
    run_benchmark(write_grid(tmp_path, text=text + "logging: {{wandb: true}}\n"), tmp_path / "out", progress_bar=False)
    runs = sorted((tmp_path / "out").rglob("offline-run-*"))
    assert len(runs) == 3  # two training runs and the table


def test_table_subset_and_metric_options(smoke):
    out = smoke[0] / "out"
    subset = render(out, methods=["deep_coral"], metric="source_accuracy")["md"]
    assert "| deep_coral |" in subset and "| source_only |" not in subset and "source (in-domain) accuracy" in subset
    with pytest.raises(DabenchError, match="no finished runs of dann in .*; methods with results: source_only, deep_coral"):
        render(out, methods=["dann"])


def test_table_tex_is_escaped_and_bolds_the_best(smoke):
    import re

    out = smoke[0] / "out"
    tex = (out / "table.tex").read_text()
    assert tex.isascii() and "deep\\_coral" in tex and "a$\\rightarrow$b" in tex and "$\\pm$" in tex
    body = re.sub(r"\\[a-zA-Z]+|\\[%_&#$]|\$\\[a-zA-Z]+\$", "", tex)
    assert not re.search(r"[%_&#]", body.replace(" & ", " ")), body  # nothing left unescaped
    assert tex.count("\\textbf{") >= 4  # the best of each of a→b, b→a, Avg and Avg rank


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex here (.ci/run installs it with apt-get)")
def test_table_tex_compiles_with_pdflatex(smoke, tmp_path):
    tex = (smoke[0] / "out" / "table.tex").read_text()
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + tex +
                                      "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_a_named_baseline_and_one_method_at_two_settings(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("""
dataset: toy
pairs: [[a, b]]
methods: [{name: source_only, label: finetune}, dann, {name: dann, label: dann_0.3, trade_off: 0.3}]
seeds: [0, 1]
baseline: finetune
overrides: {trainer.steps: 4, trainer.eval_every: 4}
tsne: {method: dann_0.3}
""")
    run_benchmark(grid, tmp_path / "out", progress_bar=False)
    table = (tmp_path / "out" / "table.md").read_text()
    assert "## Transfer gain over finetune (points)" in table
    gain_section = table.split("## Transfer gain")[1].split("##")[0]
    assert "| dann |" in gain_section and "| dann_0.3 |" in gain_section and "| finetune |" not in gain_section
    assert (tmp_path / "out" / "figures" / "tsne.png").exists()
    grid.write_text(grid.read_text().replace("baseline: finetune", "baseline: source_only"))
    with pytest.raises(DabenchError, match="baseline 'source_only' is not one of the method labels"):
        load_grid(grid)


def test_the_accuracy_chart_stays_readable_with_many_methods(tmp_path):
    from PIL import Image

    from dabench.bench.figures import accuracy_bars

    root = tmp_path / "out"
    (root).mkdir()
    methods = [f"method_{i:02d}" for i in range(24)]
    (root / "grid.json").write_text(json.dumps({"name": "many", "methods": methods, "pairs": [["a", "b"]],
                                                "baseline": "method_00", "cells": []}))
    rows = [{"status": "finished", "method": m, "source": "a", "target": "b", "seed": s,
             "target_accuracy": 50 + i + s,
             "records": [{"step": 10, "source_val_acc": 90.0, "target_test_acc": 50 + i + s}]}
            for i, m in enumerate(methods) for s in (0, 1)]
    (root / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    accuracy_bars(root, root / "accuracy.png")
    width, height = Image.open(root / "accuracy.png").size
    assert height > width  # one horizontal bar per method: it grows down, labels never overlap
    assert (root / "accuracy.pdf").read_bytes().startswith(b"%PDF")


def test_gpu_workers_are_pinned_to_the_gpus_the_parent_sees_and_can_share_them():
    from dabench.bench.runner import gpu_slots

    assert gpu_slots(2, 1, None) == ["0", "1"]
    assert gpu_slots(2, 1, "2,3") == ["2", "3"]  # a job given GPUs 2 and 3 stays on them
    assert gpu_slots(2, 3, "5, 7") == ["5", "5", "5", "7", "7", "7"]  # three runs per GPU
    assert gpu_slots(0, 2, None) == []


def test_runs_per_gpu_without_the_gpus_executor_is_refused(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text("dataset: toy\npairs: [[a, b]]\nmethods: [source_only]\nseeds: [0]\n")
    assert main(["bench", str(grid), "--out", str(tmp_path / "out"), "--runs-per-gpu", "4"]) == 2
    assert "--runs-per-gpu 4 packs runs on GPUs; add --executor gpus" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.fixture
def vanishing_method():
    """A method only this process knows: a submitit job (a fresh process) cannot build it and dies, as a
    killed cluster task would."""
    from dabench.methods.base import METHODS, Method

    METHODS.register("test_vanishing")(type("Vanishing", (Method,), {}))
    yield "test_vanishing"
    del METHODS._entries["test_vanishing"]


def test_a_lost_cluster_job_leaves_the_others_and_their_table(tmp_path, vanishing_method):
    pytest.importorskip("submitit", reason="submitit is the cluster extra (pip install -e '.[slurm]')")
    grid = write_grid(tmp_path, text=GRID.replace("[[a, b], [b, a]]", "[[a, b]]").replace(
        "deep_coral", vanishing_method).replace("[0, 1]", "[0]"))
    outcome = run_benchmark(grid, tmp_path / "out", executor="submitit_local", progress_bar=False)
    assert sorted(outcome["status"].values()) == ["lost", "ran"]
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows] == ["source_only"] and "| source_only |" in outcome["table"]


def test_detach_returns_at_submission_and_the_table_reads_what_the_jobs_wrote(tmp_path):
    pytest.importorskip("submitit", reason="submitit is the cluster extra (pip install -e '.[slurm]')")
    from dabench.bench.report import write_tables
    from dabench.bench.store import ResultStore

    grid = write_grid(tmp_path, text=GRID.replace("[[a, b], [b, a]]", "[[a, b]]").replace("[0, 1]", "[0]").replace(
        "source_only, deep_coral", "deep_coral"))  # one job: each starts a Python process that imports torch
    outcome = run_benchmark(grid, tmp_path / "out", executor="submitit_local", progress_bar=False, detach=True)
    assert list(outcome["status"].values()) == ["submitted"] and "dabench table" in outcome["table"]
    store = ResultStore(tmp_path / "out")
    deadline = time.time() + 300
    while not store.rows() and time.time() < deadline:
        time.sleep(1)
        with store.lock:
            store.write_results()
    assert "| deep_coral |" in write_tables(tmp_path / "out")["md"]
    with pytest.raises(DabenchError, match="--detach .* needs --executor slurm or submitit_local, not local"):
        run_benchmark(grid, tmp_path / "other", detach=True)
