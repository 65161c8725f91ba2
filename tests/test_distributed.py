"""Data-parallel training (dabench.distributed) with 2 CPU processes joined by gloo, as torchrun starts them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from dabench.io import load_checkpoint
from dabench.run import train
from dabench.testing import toy_config, train_in_processes


def ddp_config(method="source_only", trainer=None, **sections):
    trainer = {"steps": 20, "eval_every": 10, "log_every": 5, "threads": 1, **(trainer or {})}
    return toy_config(method, trainer=trainer, **sections)


def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(tmp_path):
    """Without batch statistics (no batch norm, no dropout), averaging the gradients of two half batches is
    the gradient of the whole batch: the runs agree up to float rounding."""
    cfg = ddp_config(model={"bottleneck_batchnorm": False})
    alone = train(cfg, tmp_path / "alone")
    train_in_processes(cfg, tmp_path / "two")
    together = json.loads((tmp_path / "two" / "result.json").read_text())
    assert together["processes"] == 2 and "processes" not in alone
    for ours, theirs in zip(together["records"], alone["records"]):
        assert ours["loss/total"] == pytest.approx(theirs["loss/total"], rel=1e-5)
        assert ours["target_test_acc"] == pytest.approx(theirs["target_test_acc"], abs=0.5)
    weights = load_checkpoint(tmp_path / "two" / "checkpoint.pt")["method"]
    for key, value in load_checkpoint(tmp_path / "alone" / "checkpoint.pt")["method"].items():
        assert torch.allclose(weights[key], value, atol=1e-5), key


def test_a_crashed_two_process_run_resumes_bit_for_bit(tmp_path):
    # batch norm and an adversarial branch; the checkpoint at step 10 falls between log steps (8, 12)
    cfg = ddp_config("dann", trainer={"log_every": 4})
    train_in_processes(cfg, tmp_path / "full")
    train_in_processes(cfg, tmp_path / "crash", crash_at=16)
    state = load_checkpoint(tmp_path / "crash" / "checkpoint.pt")
    assert state["step"] == 10 and state["processes"] == 2 and len(state["rng"]) == 2
    assert not (tmp_path / "crash" / "result.json").exists()
    train_in_processes(cfg, tmp_path / "crash", resume=True)
    full, resumed = (json.loads((tmp_path / name / "result.json").read_text()) for name in ("full", "crash"))
    assert resumed["resumed_from_step"] == 10 and resumed["records"] == full["records"]
    # every logged line too: the log at step 12 sums steps 9-12 of both processes across the crash
    logged = [(tmp_path / name / "metrics.jsonl").read_text() for name in ("full", "crash")]
    assert logged[0] == logged[1] and '"step": 12' in logged[0]
    final = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["method"]
    for key, value in load_checkpoint(tmp_path / "crash" / "checkpoint.pt")["method"].items():
        assert torch.equal(final[key], value), key
    with pytest.raises(Exception, match=r"made by 2 process\(es\) and this run has 1; resume with torchrun "
                                        r"--nproc_per_node 2"):
        (tmp_path / "full" / "result.json").unlink()
        train(cfg, tmp_path / "full", resume=True)


def test_a_global_batch_that_does_not_split_is_refused(tmp_path):
    with pytest.raises(Exception, match=r"trainer.batch_size=15 does not split over 2 processes"):
        train_in_processes(ddp_config(trainer={"batch_size": 15}), tmp_path / "odd")


def test_torchrun_launches_dabench_train(tmp_path):
    """The README's command, on the CPU: rank 0 alone writes the run folder."""
    config = tmp_path / "run.yaml"
    config.write_text("dataset: toy\nsource: a\ntarget: b\nmethod: dann\n"
                      "model: {backbone: {name: mlp, hidden: [16]}, bottleneck_dim: 8}\n"
                      "trainer: {steps: 10, batch_size: 16, eval_every: 5, device: cpu, threads: 1}\n")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "dabench", "train", "--config", str(config), "--out", str(tmp_path / "run"),
                           "--quiet"], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("wrote ") == 1
    assert json.loads((tmp_path / "run" / "result.json").read_text())["processes"] == 2
