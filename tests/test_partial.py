"""Partial DA: `target_classes` keeps a subset of the classes in the target domain only."""
import json

import pytest
import torch

from dabench.data.base import DATASETS
from dabench.data.loaders import TransferData, class_indices
from dabench.errors import DabenchError
from dabench.testing import toy_benchmark, toy_config


def test_target_keeps_only_the_listed_classes_and_the_source_keeps_all():
    toy = DATASETS.build({"name": "toy", "num_classes": 3, "samples": 300})  # y = i % 3: 100 per class
    data = TransferData(toy, "a", "b", val_fraction=0.0, target_classes=[0, 2])
    assert len(data.target_train) == 200 and torch.bincount(data.target_test.y).tolist() == [100, 0, 100]
    assert torch.bincount(data.source_train.y).tolist() == [100, 100, 100] and data.num_classes == 3
    x_test, y_test = toy.load("b", "test").tensors
    assert torch.equal(data.target_test.x, x_test[y_test != 1])  # order kept
    x_train, y_train = toy.load("b", "train").tensors
    assert torch.equal(data.target_train, x_train[y_train != 1])
    assert data.sizes["target_train"] == 200 and data.sizes["target_test"] == 200


def test_transductive_partial_target_with_labeled_samples_counts_only_kept_classes():
    surf = DATASETS.build("office_caltech10_surf")
    if surf.missing_files("webcam"):
        pytest.skip("needs the Office-Caltech10 SURF files under DABENCH_DATA (../shared/data in CI)")
    data = TransferData(surf, "amazon", "webcam", target_classes=[0, 1, 2, 3, 4], target_labeled=3)
    _, y = surf.load("webcam", "train").tensors
    kept = int(torch.isin(y, torch.arange(5)).sum())
    assert data.sizes["target_test"] == kept - 15 and set(data.target_test.y.tolist()) == {0, 1, 2, 3, 4}


def test_bad_class_lists_are_refused_with_the_fix():
    for bad in ([0, 3], [1, 1], [-1]):
        with pytest.raises(DabenchError, match=r"target_classes .*: list distinct classes of dataset 'toy', indices 0\.\.2"):
            toy_config("source_only", target_classes=bad)
    with pytest.raises(DabenchError, match="dataset 'toy' has no class 'cat'; it has no class names; give indices"):
        toy_config("source_only", target_classes=["cat"])


def test_class_names_resolve_to_indices_in_the_datasets_order():
    office = DATASETS.build("office31")
    assert class_indices(["mug", "back_pack", "projector"], office) == [0, 17, 22]
    with pytest.raises(DabenchError, match="office31' has no class 'mugs'; its classes: back_pack, bike,"):
        class_indices(["mugs"], office)


def test_the_setting_is_part_of_the_run_and_its_hash():
    partial = toy_config("source_only", target_classes=[2, 0])
    assert partial["target_classes"] == [0, 2] and toy_config("source_only")["target_classes"] is None


def test_a_partial_benchmark_runs_and_its_table_names_the_setting(tmp_path, published_lookups):
    rows, table = toy_benchmark(tmp_path, "dataset: toy\npairs: [[a, b]]\nmethods: [source_only, pada]\nseeds: [0]\n"
                                          "target_classes: [0, 2]\n")
    assert {r["data_sizes"]["target_test"] for r in rows} == {200}
    assert "- Setting: partial DA: the target keeps 2 classes [0, 2] (train and test); the source keeps all" in table
    assert published_lookups and set(published_lookups) == {"partial"}  # published numbers of the partial setting only


def test_published_numbers_are_looked_up_per_setting():
    from dabench.bench.report import published

    partial = published("office31", "resnet50", ["pada", "dann"], [("amazon", "webcam")], "partial")
    assert partial.set_index("method").loc["pada", "published"] == 86.4  # TLlib's partial Office-31 table
    assert partial.set_index("method").loc["dann", "published"] == 60.0  # not DANN's closed-set A->W number
    closed = published("office31", "resnet50", ["dann"], [("amazon", "webcam")])
    assert len(closed) == 0 or closed["published"].iloc[0] != 60.0
    dg = published("office_home", "resnet50", ["source_only", "coral_dg"],
                   [("Clipart+Product+Real_World", "Art")], "domain generalization")
    assert dg.set_index("method")["published"].to_dict() == {"source_only": 61.3, "coral_dg": 65.3}  # DomainBed


def test_every_settings_record_names_its_setting_metric_and_a_pinned_source():
    import re

    from dabench.bench.report import PAPER_RESULTS, setting

    records = json.loads((PAPER_RESULTS / "settings.json").read_text())
    settings = {setting(cfg) for cfg in ({"source": "a", "target_classes": [0]}, {"source": "a", "source_classes": [0]},
                                          {"source": "a+b"}, {"source": "a+b", "unseen_target": True})}
    assert {r["setting"] for r in records} <= settings and {r["metric"] for r in records} <= {"accuracy", "h_score"}
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}:\S+", r["source"]) for r in records)
