import torch

from dabench.losses.discrepancy import coral
from dabench.methods.base import METHODS
from dabench.testing import outputs
from methods.helpers import trained_features


def test_term_is_trade_off_times_coral_of_the_features():
    method = METHODS.build({"name": "deep_coral", "trade_off": 3.0})
    method.build(type("M", (), {"feature_dim": 5})(), num_classes=3, steps=100)
    out_s, out_t = outputs(n=9, dim=5)
    assert torch.equal(method.align(out_s, out_t, 0.5)["coral"], 3.0 * coral(out_s.features, out_t.features))


def test_deep_coral_aligns_covariances_better_than_source_only(tmp_path):
    _, target, source = trained_features("source_only", tmp_path / "so")
    baseline = coral(source, target).item()
    _, target, source = trained_features({"name": "deep_coral", "trade_off": 10.0}, tmp_path / "coral")
    assert coral(source, target).item() < 0.5 * baseline
