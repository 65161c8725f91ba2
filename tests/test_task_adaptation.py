"""Task adaptation (source: none): the label budget, starting from a finished run, and the refusals."""
import pytest
import torch

from dabench.config_files import merge
from dabench.data.base import DATASETS
from dabench.data.loaders import TransferData
from dabench.errors import DabenchError
from dabench.run import train
from dabench.testing import toy_config


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))


def test_the_labeled_stream_is_a_per_seed_budget_of_the_target_train_split():
    toy = DATASETS.build({"name": "toy"})
    x_t, y_t = toy.load("b", "train").tensors
    first, again, other = (TransferData(toy, "none", "b", target_labeled=3, label_seed=seed) for seed in (0, 0, 1))
    assert torch.bincount(first.source_train.y).tolist() == [3, 3, 3]
    rows = [(x_t == x).all(1).nonzero().item() for x in first.source_train.x]
    assert torch.equal(y_t[rows], first.source_train.y)  # target train samples with their own labels
    assert torch.equal(first.source_train.x, again.source_train.x)  # read back from the split file
    assert not torch.equal(first.source_train.x, other.source_train.x)  # another seed, another draw
    assert len(first.source_val.y) == 0 and len(first.target_train) == 0 and first.sizes["target_labeled"] == 9
    assert first.sizes["target_test"] == 300


def test_a_fraction_of_each_class_and_the_transductive_test_set_without_them():
    toy = DATASETS.build({"name": "toy", "samples": 60})
    toy.transductive = True
    data = TransferData(toy, "none", "b", target_label_fraction=0.5, label_seed=0)
    counts = torch.bincount(toy.load("b", "train").tensors[1])
    assert torch.bincount(data.source_train.y).tolist() == [round(0.5 * int(c)) for c in counts]
    assert data.sizes["target_test"] == 60 - len(data.source_train.y)
    for x in data.source_train.x:
        assert not (data.target_test.x == x).all(1).any()
    with pytest.raises(DabenchError, match="target_label_fraction=1: domain 'b' is transductive .* labels a whole class"):
        TransferData(toy, "none", "b", target_label_fraction=1.0)


def test_a_budget_larger_than_a_class_is_refused_with_the_largest_that_fits():
    toy = DATASETS.build({"name": "toy", "samples": 30})
    with pytest.raises(DabenchError, match=r"target_labeled=11: a class of target domain 'b' has only 10 train "
                                           r"samples; use target_labeled <= 10"):
        TransferData(toy, "none", "b", target_labeled=11)


def test_methods_that_read_target_or_source_batches_are_refused_before_training():
    with pytest.raises(DabenchError, match="method 'dann' trains on source and target batches, and source none .*"
                                           "use one of .*fine_tune"):
        toy_config("dann", source="none")
    with pytest.raises(DabenchError, match="target_label_fraction is the label budget of task adaptation"):
        toy_config("source_only", target_label_fraction=0.5)
    assert toy_config("source_only", source="none")["target_label_fraction"] == 1.0  # all labels by default


def test_fine_tuning_from_a_finished_run_records_it_and_starts_from_its_weights(tmp_path):
    pretrained = train(toy_config("source_only", trainer={"steps": 4, "eval_every": 4}), tmp_path / "pre")
    cfg = toy_config({"name": "l2sp", "alpha": 0.1}, source="none", target_labeled=5,
                     model={"init_from": str(tmp_path / "pre" / "checkpoint.pt")}, trainer={"steps": 2})
    assert cfg["model"]["init_from_id"] == f"cell:{pretrained['config_hash']}"
    from dabench.run import Run

    run = Run.build(cfg)
    weights = torch.load(tmp_path / "pre" / "checkpoint.pt", weights_only=True)["method"]
    assert torch.equal(run.method.model.backbone[1].weight, weights["model.backbone.1.weight"])
    assert torch.equal(run.method.model.bottleneck[0].weight, weights["model.bottleneck.0.weight"])
    result = train(cfg, tmp_path / "ft")
    assert result["init_from"]["config_hash"] == pretrained["config_hash"] and result["source"] == "none"
    moved = toy_config({"name": "l2sp", "alpha": 0.1}, source="none", target_labeled=5,
                       model={"init_from": str(tmp_path / "pre")}, trainer={"steps": 2})
    from dabench.config import config_hash

    assert config_hash(moved) == config_hash(cfg)  # the folder or its checkpoint: the same run


def test_init_from_refuses_an_unfinished_run_and_another_architecture(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(DabenchError, match="model.init_from: the run in .*half is not finished"):
        toy_config("fine_tune", source="none", model={"init_from": str(tmp_path / "half")})
    train(toy_config("source_only", trainer={"steps": 2, "eval_every": 2}), tmp_path / "pre")
    with pytest.raises(DabenchError, match=r"model.init_from: the run in .* trained backbone \{'name': 'mlp', "
                                           r"'hidden': \[16\].*this run builds"):
        toy_config("fine_tune", source="none", model={"init_from": str(tmp_path / "pre"),
                                                      "backbone": {"name": "mlp", "hidden": [32]}})
    cfg = toy_config("fine_tune", source="none", model={"init_from": str(tmp_path / "pre"), "bottleneck_dim": 4})
    from dabench.run import Run

    with pytest.raises(DabenchError, match="model.init_from: the bottleneck of the run in .* does not fit"):
        Run.build(cfg)


def test_lwf_without_a_pretrained_classifier_is_refused_with_the_fix():
    from dabench.run import Run

    cfg = toy_config({"name": "lwf", "allow_random_backbone": True}, source="none")
    cfg = merge(cfg, {"method": {"allow_random_backbone": False}})  # a random backbone, but no pretrained head either
    with pytest.raises(DabenchError, match="method 'lwf' trains the pretrained task's classifier too.*model.init_from"):
        Run.build(cfg)


def test_semi_supervised_da_draws_the_same_labeled_samples_as_task_adaptation_when_per_seed():
    from dabench.run import Run

    task = Run.build(toy_config("source_only", source="none", target_labeled=3, seed=2)).data
    fixed = Run.build(toy_config("dann", target_labeled=3, seed=2)).data
    per_seed = Run.build(toy_config("dann", target_labeled=3, seed=2, target_labeled_draw="per_seed")).data
    rows = lambda x: sorted(map(tuple, x.tolist()))  # noqa: E731 (the labeled stream is shuffled once)
    assert rows(per_seed.target_labeled.x) == rows(task.source_train.x)
    assert rows(fixed.target_labeled.x) != rows(task.source_train.x)  # seed 0 for every seed, as before


def test_a_task_adaptation_grid_measures_gains_against_fine_tuning(tmp_path):
    from dabench.bench.grid import load_grid

    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("dataset: toy\npairs: [[none, b]]\nseeds: [0]\ntarget_labeled: 2\n"
                         "methods: [{name: fine_tune, allow_random_backbone: true}, "
                         "{name: bss, allow_random_backbone: true}]\n"
                         "model: {backbone: {name: mlp, hidden: [16]}}\n")
    grid = load_grid(grid_file)
    assert grid.baseline == "fine_tune" and grid.pairs == [("none", "b")]
    assert {cell.config["target_labeled"] for cell in grid.cells} == {2}


def test_tables_name_the_setting_and_show_no_unsupervised_numbers_beside_it():
    from dabench.bench.report import published, setting

    assert setting(toy_config("source_only", source="none")) == "task adaptation"
    semi = toy_config("dann", target_labeled=2)
    assert setting(semi) == "semi-supervised" and setting(toy_config("dann")) == "closed-set"
    # DANN's published USPS->MNIST number is unsupervised DA: a semi-supervised table does not print it.
    assert published("digits", "lenet", ["dann"], [("usps", "mnist")], "semi-supervised").empty
    assert not published("digits", "lenet", ["dann"], [("usps", "mnist")], "closed-set").empty
