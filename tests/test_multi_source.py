"""Multi-source DA: a run's source may be several domains ("a+c"); every source batch holds each of them."""
import pytest
import torch

from dabench.bench.grid import load_grid
from dabench.data.base import DATASETS
from dabench.data.loaders import MultiSourceBatches, TransferData
from dabench.errors import DabenchError
from dabench.testing import toy_benchmark, toy_config


def test_sources_are_concatenated_with_their_domain_index():
    toy = DATASETS.build("toy")  # 300 samples per domain
    data = TransferData(toy, "a+c", "b", val_fraction=0.0)
    assert data.source_domains == ["a", "c"] and data.sizes["source_train"] == 600
    assert torch.bincount(data.source_train.domain).tolist() == [300, 300]
    x_c, y_c = toy.load("c", "train").tensors
    from_c = data.source_train.domain == 1
    order = torch.argsort(x_c[:, 0])
    assert torch.equal(data.source_train.x[from_c][torch.argsort(data.source_train.x[from_c][:, 0])], x_c[order])
    assert torch.equal(data.source_train.y[from_c][torch.argsort(data.source_train.x[from_c][:, 0])], y_c[order])
    assert TransferData(toy, "a", "b").source_train.domain is None  # one source: as before


def test_every_batch_holds_every_source_in_fixed_shares():
    domain = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    x = torch.arange(100.0)[:, None]
    batches = MultiSourceBatches(x, torch.zeros(100, dtype=torch.long), domain, batch_size=16, seed=0)
    for step in range(40):  # several epochs of the smallest source
        batch = batches.batch(step)
        assert torch.bincount(batch.domain).tolist() == [6, 5, 5]
        assert torch.equal(domain[batch.idx], batch.domain) and torch.equal(x[batch.idx], batch.x)
    again = MultiSourceBatches(x, torch.zeros(100, dtype=torch.long), domain, batch_size=16, seed=0)
    assert torch.equal(again.batch(7).idx, batches.batch(7).idx)  # drawn by step number: resume-exact


def test_source_lists_are_checked_with_the_fix():
    assert toy_config("source_only", source=["a", "c"])["source"] == "a+c"
    with pytest.raises(DabenchError, match="'b' is both a source and the target"):
        toy_config("source_only", source="a+b")
    with pytest.raises(DabenchError, match="names a domain twice"):
        toy_config("source_only", source=["a", "a"])
    with pytest.raises(DabenchError, match="has no domain 'd'"):
        toy_config("source_only", source=["a", "d"])
    with pytest.raises(DabenchError, match="method 'm3sda' is a multi-source method; give several source domains"):
        toy_config("m3sda")


def test_grid_pairs_take_source_lists_and_leave_one_out(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("dataset: toy\npairs: leave_one_out\nmethods: [source_only]\nseeds: [0]\n")
    assert load_grid(grid).pairs == [("b+c", "a"), ("a+c", "b"), ("a+b", "c")]
    grid.write_text("dataset: toy\npairs: [[[a, c], b], [a, b]]\nmethods: [mdan]\nseeds: [0]\n")
    with pytest.raises(DabenchError, match=r"methods\[0\] mdan a->b.*multi-source method"):
        load_grid(grid)
    grid.write_text("dataset: toy\npairs: [[[a, c], c]]\nmethods: [source_only]\nseeds: [0]\n")
    with pytest.raises(DabenchError, match="adapts a domain to itself"):
        load_grid(grid)


def test_a_source_stage_trains_on_every_source(tmp_path):
    from dabench.run import source_stage_config

    first = source_stage_config(toy_config("shot", source=["a", "c"]), {"method": {"name": "source_only"}})
    assert first["source"] == "a+c" and first["target"] == "a"


def test_a_multi_source_benchmark_names_the_setting_and_looks_up_its_own_numbers(tmp_path, published_lookups):
    rows, table = toy_benchmark(tmp_path, "dataset: toy\npairs: [[[a, c], b]]\nmethods: [source_only, m3sda, mdan]\n"
                                          "seeds: [0]\n")
    assert {r["source"] for r in rows} == {"a+c"} and {r["data_sizes"]["source_train"] for r in rows} == {540}
    assert "| a+c→b |" in table and "- Setting: multi-source DA: the sources of each pair (joined by +)" in table
    assert published_lookups and set(published_lookups) == {"multi-source"}
