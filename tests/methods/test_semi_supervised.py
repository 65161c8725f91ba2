import pytest
import torch

from dabench.data.base import DATASETS
from dabench.data.loaders import TransferData
from dabench.errors import DabenchError
from dabench.log import Loggers
from dabench.testing import build_toy, toy_config


def test_k_labeled_target_samples_per_class_come_from_target_train():
    data = TransferData(DATASETS.build({"name": "toy"}), "a", "b", target_labeled=4)
    x_t, y_t = DATASETS.build({"name": "toy"}).load("b", "train").tensors
    assert torch.bincount(data.target_labeled.y).tolist() == [4, 4, 4]
    rows = [(x_t == x).all(1).nonzero().item() for x in data.target_labeled.x]
    assert torch.equal(y_t[rows], data.target_labeled.y)
    assert data.sizes["target_test"] == 300  # toy's test split is separate: nothing to remove


def test_on_a_transductive_dataset_the_labeled_samples_leave_the_test_set():
    dataset = DATASETS.build({"name": "toy"})
    dataset.transductive = True
    data = TransferData(dataset, "a", "b", target_labeled=2)
    assert data.sizes["target_test"] == 300 - 6
    for x in data.target_labeled.x:
        assert not (data.target_test.x == x).all(1).any()


def test_every_method_gets_a_labeled_target_loss_term(tmp_path):
    trainer, method, data = build_toy(toy_config("dann", target_labeled=2))
    records = trainer.fit(method, data, tmp_path, Loggers(), seed=0).records
    assert "loss/cls_t" in records[-1] and records[-1]["loss/cls_t"] > 0


def test_target_labeled_must_be_a_non_negative_integer():
    with pytest.raises(DabenchError, match="target_labeled: Input should be greater than or equal to 0"):
        toy_config("dann", target_labeled=-1)


def test_target_labeled_that_would_empty_a_test_class_is_refused():
    toy = DATASETS.build({"name": "toy", "samples": 30})
    toy.transductive = True  # the labeled samples then leave the test set, as on Office-31
    with pytest.raises(DabenchError, match=r"target_labeled=10: a class of target domain 'b' has only 10 samples.*"
                                           r"use target_labeled <= 9"):
        TransferData(toy, "a", "b", target_labeled=10)
    assert len(TransferData(toy, "a", "b", target_labeled=9).target_test.y) == 3
