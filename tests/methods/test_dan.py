from dabench.losses.discrepancy import mmd
from methods.helpers import trained_features


def test_dan_features_have_lower_mmd_than_source_only(tmp_path):
    _, target, source = trained_features("source_only", tmp_path / "so")
    baseline = mmd(source[:256], target[:256]).item()
    _, target, source = trained_features({"name": "dan", "trade_off": 1.0}, tmp_path / "dan")
    assert mmd(source[:256], target[:256]).item() < 0.5 * baseline
