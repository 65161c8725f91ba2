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


def test_csv_and_tensorboard_logs_match_the_jsonl_and_resume_cleanly(tmp_path):
    import pandas as pd

    pytest.importorskip("tensorboard", reason="tensorboard is an optional extra (pip install -e '.[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = toy_config("dann", logging={"csv": True, "tensorboard": True})
    train(cfg, tmp_path)
    long = pd.read_csv(tmp_path / "metrics.csv")
    jsonl = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(long) == sum(len(r) - 1 for r in jsonl)
    adv = long[long.metric == "loss/adv"]
    assert adv.step.tolist() == [r["step"] for r in jsonl if "loss/adv" in r]
    assert adv.value.tolist() == pytest.approx([r["loss/adv"] for r in jsonl if "loss/adv" in r])
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("target_test_acc")] == [10, 20]

    from dabench.log import CsvLogger

    CsvLogger(tmp_path / "metrics.csv", resume_step=10)  # what a resume from step 10 does
    assert pd.read_csv(tmp_path / "metrics.csv").step.max() == 10


def test_wandb_summary_holds_the_final_metrics_and_config_hash(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is an optional extra (pip install -e '.[wandb]')")
    from dabench.config import config_hash
    from dabench.log import WandbLogger

    monkeypatch.setenv("WANDB_SILENT", "true")
    summaries, real_finish = [], WandbLogger.finish

    def finish(self, summary=None):  # record what reaches the wandb run's summary, then finish for real
        summary_class = type(self.run.summary)
        update = summary_class.update
        monkeypatch.setattr(summary_class, "update",
                            lambda obj, values, *args, **kwargs: (summaries.append(dict(values)),
                                                                  update(obj, values, *args, **kwargs))[1])
        real_finish(self, summary)

    monkeypatch.setattr(WandbLogger, "finish", finish)
    cfg = toy_config("source_only", logging={"wandb": True})
    result = train(cfg, tmp_path)
    assert summaries == [{"target_accuracy": result["target_accuracy"], "source_accuracy": result["source_accuracy"],
                          "steps": 20, "config_hash": config_hash(cfg)}]
