import json

import pytest

from dabench.run import train
from dabench.testing import toy_config


def test_metrics_jsonl_has_losses_and_evaluations(tmp_path):
    train(toy_config("dann"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss/adv" in r] == [5, 10, 10, 15, 20, 20]
    assert [r["step"] for r in rows if "target_test_acc" in r] == [10, 20]


def test_wandb_offline_run_is_written_locally(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is an optional extra (pip install -e '.[wandb]')")
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(toy_config("source_only", logging={"wandb": True}), tmp_path)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))
