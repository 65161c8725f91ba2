"""Domain generalization: `unseen_target` keeps every target sample out of training."""

import pytest
import torch

from dabench.data.toy import Toy
from dabench.errors import DabenchError
from dabench.log import Loggers
from dabench.run import build, train
from dabench.testing import toy_benchmark, toy_config


def test_training_never_reads_the_held_out_domain(tmp_path, monkeypatch):
    """A poisoned target domain: reading its train split raises, and its test split is read only by evaluation."""
    load = Toy.load
    reads = []

    def poisoned(self, domain, split):
        if domain == "b" and split == "train":
            raise AssertionError("a domain-generalization run read the held-out domain's train split")
        reads.append((domain, split))
        return load(self, domain, split)

    monkeypatch.setattr(Toy, "load", poisoned)
    cfg = toy_config("coral_dg", source=["a", "c"], unseen_target=True, trainer={"steps": 4, "eval_every": 4})
    trainer, _, data, method = build(cfg)
    assert reads == [("a", "train"), ("c", "train"), ("b", "test")]
    assert len(data.target_train) == 0 and len(data.target_inputs) == 0 and data.sizes["target_train"] == 0
    targets = []
    original = method.loss
    method.loss = lambda s, t, progress: (targets.append(t), original(s, t, progress))[1]
    records = trainer.fit(method, data, tmp_path, Loggers(), seed=0).records
    assert targets == [None] * 4
    assert records[-1]["target_test_acc"] >= 0 and torch.isnan(torch.tensor(records[-1]["score/entropy"]))


def test_methods_that_need_target_batches_are_refused_with_the_ones_that_fit():
    with pytest.raises(DabenchError, match="method 'dann' trains on target batches.*use one of .*coral_dg.*source_only"):
        toy_config("dann", source=["a", "c"], unseen_target=True)
    with pytest.raises(DabenchError, match="unseen_target .* and target_labeled > 0 contradict"):
        toy_config("source_only", unseen_target=True, target_labeled=2)


def test_erm_is_source_only_on_the_pooled_sources(tmp_path):
    erm = train(toy_config("source_only", source=["a", "c"], unseen_target=True, trainer={"steps": 6, "eval_every": 6}),
                tmp_path / "erm")
    assert erm["data_sizes"]["target_train"] == 0 and erm["source"] == "a+c"


def test_a_leave_one_out_benchmark_names_the_setting(tmp_path, published_lookups):
    rows, table = toy_benchmark(tmp_path, "dataset: toy\npairs: leave_one_out\nmethods: [source_only, group_dro]\n"
                                          "seeds: [0]\nunseen_target: true\n")
    assert sorted({(r["source"], r["target"]) for r in rows}) == [("a+b", "c"), ("a+c", "b"), ("b+c", "a")]
    assert published_lookups and set(published_lookups) == {"domain generalization"}
    assert "- Setting: domain generalization: the target domain is unseen in training" in table
    assert "batch 16 source + no target batch;" in table
    assert "## Transfer gain over source_only" in table
