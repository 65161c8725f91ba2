"""A careless or hostile user: every bad value fails before training with one line, checkpoints never
run code, a diverged run stops with the step and the term and is recorded as failed, a full disk
leaves no temporary file, and results depend on the thread count only through the config hash."""
import errno
import json
import os
import pickle

import pytest
import torch

from dabench.bench.benchmark import run_benchmark
from dabench.bench.grid import load_grid
from dabench.bench.report import render
from dabench.cli import main
from dabench.config import config_hash
from dabench.errors import DabenchError
from dabench.io import DamagedFile, load_checkpoint, save_atomic, write_json_atomic
from dabench.methods.base import METHODS, Method
from dabench.run import RunFailed, train
from dabench.testing import toy_config
from dabench.trainer import Trainer

TOY = ["--dataset", "toy", "--source", "a", "--target", "b", "--quiet"]


@pytest.fixture
def no_training(monkeypatch):
    """Any call to Trainer.fit fails the test: validation must stop bad input before it."""
    def fit(*args, **kwargs):
        raise AssertionError("training started")
    monkeypatch.setattr(Trainer, "fit", fit)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dabench: error: ")
    return lines[0]


@pytest.mark.parametrize("args, message", [
    (["optim.lr=.nan"], "optim.lr: Input should be a finite number"),
    (["optim.lr=.inf"], "optim.lr: Input should be a finite number"),
    (["optim.backbone_lr_mult=-1"], "optim.backbone_lr_mult: Input should be greater than or equal to 0"),
    (["model.bottleneck_dim=-3"], "model.bottleneck_dim: Input should be greater than or equal to 0"),
    (["--target", "a"], "'a' is both a source and the target"),
    (["trainer.steps=2.5"], "trainer.steps: Input should be a valid integer"),
    (["trainer.batch_size=1"], "trainer.batch_size: Input should be greater than or equal to 2"),
    (["trainer.batch_size=3.7"], "trainer.batch_size: Input should be a valid integer"),
    (["trainer.eval_batch_size=0"], "trainer.eval_batch_size: Input should be greater than 0"),
    (["optim.momentum=-0.5"], "optim.momentum: Input should be greater than or equal to 0"),
    (["optim.weight_decay=-1"], "optim.weight_decay: Input should be greater than or equal to 0"),
    (["optim.gamma=abc"], "optim.gamma: Input should be a valid number"),
    (["trainer.device=tpu"], "trainer.device: String should match pattern"),
    (["--method", "dann", "method.trade_off=abc"], "method 'dann': parameter 'trade_off' = 'abc': Input should be a "
                                                   "valid number"),
    (["--method", "dann", "method.trade_off=[1, 2]"], "parameter 'trade_off' = [1, 2]"),
    (["val_fraction=abc"], "val_fraction: Input should be a valid number"),
    (["val_fraction=0.999"], "val_fraction=0.999 holds out all 300 source training samples as source_val"),
    (["model.dropout=2"], "model.dropout: Input should be less than 1"),
    (["trainer=5"], "trainer: Input should be a valid dictionary"),
    (["model=[1]"], "model: Input should be a valid dictionary"),
    (["trainer.threads=0"], "trainer.threads: Input should be greater than or equal to 1"),
    (["seed=-1"], "seed: Input should be greater than or equal to 0"),
    (["optim.schedule=linear"], "optim.schedule: Input should be 'inv', 'inv_iter', 'constant', 'cosine' or 'step'"),
    (["trainer.stpes=3"], "unknown key 'trainer.stpes'; accepted: steps, batch_size"),
])
def test_bad_train_values_fail_before_training_with_one_line(args, message, tmp_path, capsys, no_training):
    assert main(["train", *TOY, "--out", str(tmp_path / "run"), *args]) == 2
    assert message in one_line_error(capsys)


def test_scientific_notation_trains_with_that_learning_rate(tmp_path):
    assert main(["train", *TOY, "--out", str(tmp_path / "run"), "optim.lr=1e-3", "trainer.steps=1"]) == 0
    assert json.loads((tmp_path / "run" / "result.json").read_text())["config"]["optim"]["lr"] == 1e-3


def test_slurm_without_slurm_and_an_option_without_value_are_one_line_errors(tmp_path, capsys, monkeypatch,
                                                                             no_training):
    pytest.importorskip("submitit", reason="submitit is the cluster extra (pip install -e '.[slurm]')")
    grid = tmp_path / "grid.yaml"
    grid.write_text("dataset: toy\nmethods: [source_only]\npairs: [[a, b]]\nseeds: [0]\n")
    assert main(["bench", str(grid), "--out", str(tmp_path / "out"), "--quiet", "--slurm", "timeout_min"]) == 2
    assert "--slurm timeout_min: expected KEY=VALUE" in one_line_error(capsys)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch: submitit would have run the cells here silently
    assert main(["bench", str(grid), "--out", str(tmp_path / "out"), "--quiet", "--executor", "slurm"]) == 2
    assert "executor 'slurm' needs SLURM (no sbatch on PATH" in one_line_error(capsys)


def test_base_cycle_and_bad_out_are_one_line_errors(tmp_path, capsys, no_training):
    (tmp_path / "a.yaml").write_text("_base_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\n")
    assert main(["train", "--config", str(tmp_path / "a.yaml"), *TOY, "--out", str(tmp_path / "r")]) == 2
    assert "_base_ cycle" in one_line_error(capsys)

    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["train", *TOY, "--out", str(a_file)]) == 2
    assert f"--out {a_file} is a file" in one_line_error(capsys)
    assert main(["train", *TOY, "--out", str(a_file / "below")]) == 2
    assert "is a file (or lies under one)" in one_line_error(capsys)


BENCH = """
dataset: toy
pairs: {pairs}
methods: [source_only, dann]
seeds: {seeds}
model: {{backbone: {{name: mlp, hidden: [8]}}, bottleneck_dim: 4}}
overrides: {{trainer.steps: 4, trainer.batch_size: 8, trainer.eval_every: 4, trainer.log_every: 2}}
"""


@pytest.mark.parametrize("pairs, seeds, extra, message", [
    ("[]", "[0]", "", "pairs: Value should have at least 1 item"),
    ("[[a, b]]", "[]", "", "seeds: List should have at least 1 item"),
    ("[[a, b]]", "[0, 0]", "", "seeds: [0, 0] lists a seed twice"),
    ("[[a, a]]", "[0]", "", "pair ['a', 'a'] adapts a domain to itself"),
    ("[[a, b], [a, b]]", "[0]", "", "a pair is listed twice"),
    ("[[a, b, a]]", "[0]", "", "each pair is [source, target]"),
    ("[[a, b]]", "[0]", "tsne: {method: nope}", "tsne.method 'nope' is not in methods"),
    ("[[a, b]]", "[0]", "tsne: {pair: [b, a]}", "tsne.pair ['b', 'a'] is not among the grid's pairs"),
    ("[[a, b]]", "[0]", "tsne: {colour: red}", "unknown key 'tsne.colour'"),
    ("[[a, b]]", "[0]", "trainer: 5", "trainer: Input should be a valid dictionary"),
    ("[[a, b]]", "[0]", "overrides: {method.trade_off: 0.5}", "method 'source_only': unknown parameter 'trade_off'"),
])
def test_bad_benchmark_files_fail_before_the_first_run(pairs, seeds, extra, message, tmp_path, capsys, no_training):
    grid = tmp_path / "grid.yaml"
    grid.write_text(BENCH.format(pairs=pairs, seeds=seeds) + extra + "\n")
    assert main(["bench", str(grid), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_bad_worker_counts_are_refused(workers, tmp_path, capsys, no_training):
    grid = tmp_path / "grid.yaml"
    grid.write_text(BENCH.format(pairs="[[a, b]]", seeds="[0]"))
    with pytest.raises(SystemExit) as exit_:
        main(["bench", str(grid), "--out", str(tmp_path / "out"), "--workers", workers])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --workers: expected a positive integer" in err and "Traceback" not in err


def test_bench_out_pointing_at_a_file_is_one_line(tmp_path, capsys, no_training):
    grid = tmp_path / "grid.yaml"
    grid.write_text(BENCH.format(pairs="[[a, b]]", seeds="[0]"))
    (tmp_path / "out").write_text("not a folder")
    assert main(["bench", str(grid), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "is a file" in one_line_error(capsys)


class Planted:
    """Unpickling this runs code: what a malicious checkpoint.pt would hold."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_planted_checkpoint_runs_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = toy_config("source_only", trainer={"steps": 4, "eval_every": 2, "log_every": 2})
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "checkpoint.pt", "wb") as f:
        pickle.dump({"step": 2, "config_hash": config_hash(cfg), "payload": Planted()}, f)
    with pytest.warns(UserWarning, match="not a loadable dabench checkpoint"):
        result = train(cfg, run, resume=True)  # set aside, and the run starts from scratch
    assert not (tmp_path / "PWNED").exists()
    assert result["resumed_from_step"] == 0 and (run / "checkpoint.pt.damaged").exists()
    with pytest.raises(DamagedFile, match="checkpoint.pt.damaged: not a loadable dabench checkpoint"):
        load_checkpoint(run / "checkpoint.pt.damaged")


def test_every_checkpoint_load_in_the_package_is_weights_only():
    import dabench

    root = os.path.dirname(dabench.__file__)
    loads = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(folder, name)).read()
                loads += [(name, line.strip()) for line in text.splitlines() if "torch.load(" in line]
    assert loads and all("weights_only=True" in line for _, line in loads), loads


@pytest.fixture
def diverging_method():
    """A registered method whose loss becomes NaN half-way through training (removed afterwards)."""
    @METHODS.register("test_diverges")
    class Diverges(Method):
        def align(self, out_s, out_t, progress):
            blowup = torch.tensor(float("nan") if progress >= 0.5 else 0.0)
            return {"blowup": out_t.logits.sum() * 0 + blowup}

    yield "test_diverges"
    del METHODS._entries["test_diverges"]


def test_a_non_finite_loss_stops_the_run_naming_step_and_term(diverging_method, tmp_path):
    cfg = toy_config(diverging_method, trainer={"steps": 8, "eval_every": 8, "log_every": 4})
    with pytest.raises(RunFailed, match=r"loss/blowup became non-finite at step 5; lower optim.lr"):
        train(cfg, tmp_path / "run")
    failed = json.loads((tmp_path / "run" / "failed.json").read_text())
    assert failed["config_hash"] == config_hash(cfg) and "step 5" in failed["error"]
    assert not (tmp_path / "run" / "result.json").exists()
    with pytest.raises(RunFailed, match="delete it to try again"):  # recorded: not recomputed by accident
        train(cfg, tmp_path / "run")


def test_weights_that_diverge_right_before_an_evaluation_fail_the_run(tmp_path):
    # the loss of the one step is finite; the update it makes is not, and the evaluation sees NaN outputs
    cfg = toy_config("dann", optim={"lr": 1.0e30}, trainer={"steps": 1})
    with pytest.raises(RunFailed, match="the model's outputs on target train became non-finite at step 1"):
        train(cfg, tmp_path / "run")
    assert "non-finite at step 1" in json.loads((tmp_path / "run" / "failed.json").read_text())["error"]


def test_a_failed_cell_is_shown_as_failed_and_the_grid_goes_on(diverging_method, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(BENCH.format(pairs="[[a, b]]", seeds="[0, 1]").replace("dann", diverging_method) +
                    "tsne: false\nfigures: false\n")
    outcome = run_benchmark(grid, tmp_path / "out", progress_bar=False)
    assert sorted(outcome["status"].values()) == ["failed", "failed", "ran", "ran"]
    table = render(tmp_path / "out")["md"]
    assert "– (2 failed)" in table and "## Failed runs" in table and "became non-finite at step 3" in table
    rerun = run_benchmark(grid, tmp_path / "out", progress_bar=False)
    assert set(rerun["status"].values()) == {"done"}


def test_a_full_disk_leaves_no_temporary_file_and_names_the_space(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DabenchError, match=rf"no space left in {tmp_path} to write result.json \(\d+ bytes needed\)"):
        write_json_atomic({"a": 1}, tmp_path / "result.json")
    with pytest.raises(DabenchError, match="to write checkpoint.pt"):
        save_atomic({"w": torch.zeros(10)}, tmp_path / "checkpoint.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full (a device that is always full) is Linux's")
def test_a_full_disk_while_appending_metrics_is_a_one_line_error(tmp_path):
    from pathlib import Path

    from dabench.log import CsvLogger, JsonlLogger

    for logger in (JsonlLogger(tmp_path / "metrics.jsonl"), CsvLogger(tmp_path / "metrics.csv")):
        logger.path = Path("/dev/full")  # the disk fills up during training
        with pytest.raises(DabenchError, match=r"no space left in /dev to write full \(\d+ bytes needed\)"):
            logger.log(3, {"loss/cls": 0.5})


def test_an_unwritable_cache_is_a_one_line_error_naming_dabench_cache(tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "a_file" / "cache"))  # under a file: cannot be created
    assert main(["train", *TOY, "--method", "shot", "--out", str(tmp_path / "run"), "trainer.steps=1"]) == 2
    assert "set DABENCH_CACHE to a writable folder" in one_line_error(capsys)


def test_the_thread_count_is_recorded_and_hashed(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(BENCH.format(pairs="[[a, b]]", seeds="[0]"))
    one, two = load_grid(grid, threads=1), load_grid(grid, threads=2)
    assert {c.config["trainer"]["threads"] for c in one.cells} == {1}
    assert {c.cell_id for c in one.cells}.isdisjoint(c.cell_id for c in two.cells)
    pinned = load_grid(grid, ["trainer.threads=1"], threads=2)  # the user's choice wins over the runner's
    assert [c.cell_id for c in pinned.cells] == [c.cell_id for c in one.cells]


def test_a_run_is_bit_identical_at_its_recorded_thread_count(tmp_path):
    cfg = toy_config("dann", trainer={"steps": 6, "eval_every": 6, "threads": 1})
    before = torch.get_num_threads()
    try:
        first = train(cfg, tmp_path / "first")
        torch.set_num_threads(2)  # whatever the process had, the run sets its own...
        second = train(cfg, tmp_path / "second")
        assert first["records"] == second["records"]
        assert torch.get_num_threads() == 2  # ...gives the caller's back...
        assert second["device"].endswith(", 1 threads)")  # ...and records the count it ran with
    finally:
        torch.set_num_threads(before)


def test_data_verify_folder_decodes_every_image_and_names_the_unreadable(tmp_path, capsys):
    from dabench.testing import make_folder_domains

    root = make_folder_domains(tmp_path / "mine", per_class=2)
    assert main(["data", "verify", "folder", "--path", str(root)]) == 0
    assert "folder" in capsys.readouterr().out
    broken = root / "sketches" / "dog" / "1.png"
    broken.write_bytes(broken.read_bytes()[:40])  # a truncated PNG: its header is fine, its pixels are not
    assert main(["data", "verify", "folder", "--path", str(root)]) == 2
    out = capsys.readouterr()
    assert f"CORRUPT {broken}: not a readable image" in out.out and "1 problem(s)" in out.err
    assert main(["data", "verify", "folder"]) == 2
    assert "dataset 'folder' needs --path DIR" in one_line_error(capsys)
