"""Open-set and universal DA: `source_classes` keeps the known classes in the source; target samples
of other classes are labelled unknown and scored by the H-score."""

import pytest
import torch

from dabench.data.base import DATASETS
from dabench.data.loaders import TransferData, known_labels
from dabench.errors import DabenchError
from dabench.evaluate import open_set_predictions, open_set_scores
from dabench.testing import toy_benchmark, toy_config

TOY = {"name": "toy", "num_classes": 3, "samples": 300}  # y = i % 3: 100 per class


def test_known_classes_are_renumbered_and_the_rest_of_the_target_is_unknown():
    toy = DATASETS.build(TOY)
    data = TransferData(toy, "a", "b", val_fraction=0.0, source_classes=[0, 2])
    assert data.num_classes == 2 and data.unknown_label == 2 and data.open_set and data.metric == "h_score"
    assert known_labels([0, 2])(torch.tensor([0, 1, 2, 2])).tolist() == [0, 2, 1, 1]  # class 2 is known class 1
    assert torch.bincount(data.source_train.y).tolist() == [100, 100]
    _, y_test = toy.load("b", "test").tensors
    assert torch.equal(data.target_test.y, torch.tensor([0, 2, 1]).repeat(100))  # class 1 -> unknown (2)
    assert data.sizes == {"source_train": 200, "source_val": 0, "target_train": 300, "target_labeled": 0,
                          "target_test": 300}


def test_universal_split_keeps_the_target_classes_and_marks_the_target_private_ones_unknown():
    toy = DATASETS.build({**TOY, "num_classes": 4, "samples": 400})  # 100 per class
    data = TransferData(toy, "a", "b", val_fraction=0.0, source_classes=[0, 1, 2], target_classes=[1, 2, 3])
    assert torch.bincount(data.source_train.y).tolist() == [100, 100, 100]  # class 0 is source-private
    assert torch.bincount(data.target_test.y).tolist() == [0, 100, 100, 100]  # class 3 -> unknown (3)
    assert len(data.target_train) == 300


def test_a_known_subset_of_the_target_is_not_open_set():
    data = TransferData(DATASETS.build(TOY), "a", "b", source_classes=[0, 1], target_classes=[1])
    assert not data.open_set and data.metric == "accuracy" and set(data.target_test.y.tolist()) == {1}


def test_open_set_scores_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])  # K = 2 known classes; 2 is unknown
    predicted = torch.tensor([0, 0, 1, 0, 2, 0, 0, 2])
    scores = open_set_scores(predicted, labels, num_known=2)
    # recall: class 0 2/2, class 1 1/2, unknown 2/4
    assert scores["os_star"] == pytest.approx(75.0) and scores["unk"] == pytest.approx(50.0)
    assert scores["os"] == pytest.approx((100 + 50 + 50) / 3)
    assert scores["h_score"] == pytest.approx(2 * 75 * 50 / (75 + 50))  # 60
    nothing = open_set_scores(torch.tensor([1, 0, 0]), torch.tensor([0, 1, 2]), num_known=2)
    assert nothing["h_score"] == 0.0 and nothing["os"] == 0.0


def test_unknown_is_the_extra_output_or_a_confidence_under_the_threshold():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 3.0]])  # top softmax 0.88, 0.5, 0.95
    assert open_set_predictions(logits, num_known=2, threshold=0.6).tolist() == [0, 2, 1]
    assert open_set_predictions(logits, num_known=2, threshold=0.9).tolist() == [2, 2, 1]
    with_unknown = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 5.0]])
    assert open_set_predictions(with_unknown, num_known=2, threshold=0.99).tolist() == [0, 2]


def test_bad_open_set_configs_are_refused_with_the_fix():
    with pytest.raises(DabenchError, match="method 'osbp' is an open-set method .* set source_classes"):
        toy_config("osbp")
    for method, classes in (("osbp", {"source_classes": [0, 1, 2]}),  # every class known: nothing is unknown
                            ("ovanet", {"source_classes": [0, 1], "target_classes": [0, 1]})):
        with pytest.raises(DabenchError, match=f"method '{method}' .* no target class is unknown"):
            toy_config(method, **classes)
    with pytest.raises(DabenchError, match=r"source_classes \[0\] and target_classes \[1, 2\] share no class"):
        toy_config("source_only", source_classes=[0], target_classes=[1, 2])
    with pytest.raises(DabenchError, match=r"source_classes \[0, 5\]: list distinct classes of dataset 'toy'"):
        toy_config("source_only", source_classes=[0, 5])
    with pytest.raises(DabenchError, match="unknown_threshold"):
        toy_config("source_only", unknown_threshold=1.5)


def test_an_open_set_benchmark_reports_the_h_score_and_its_parts(tmp_path, published_lookups):
    rows, table = toy_benchmark(tmp_path, "dataset: {name: toy, shift: 0.5}\npairs: [[a, b]]\n"
                                          "methods: [source_only, osbp]\nseeds: [0, 1]\nsource_classes: [0, 1]\n", steps=30)
    assert {r["metric"] for r in rows} == {"h_score"}
    assert "target H-score (%)" in table.splitlines()[0]
    assert "- Setting: open-set DA: the source keeps 2 classes [0, 1], the known ones" in table
    assert published_lookups and set(published_lookups) == {"open-set"}
    osbp = [r["records"][-1] for r in rows if r["method"] == "osbp"]
    h, os_star = (sum(r[k] for r in osbp) / 2 for k in ("target_test_acc", "target_test_os_star"))
    assert f"| osbp | {h:.1f} | {os_star:.1f} |" in table  # the open-set metrics section
