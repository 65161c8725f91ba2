import torch

from dabench.losses.target import entropy
from methods.helpers import trained_features


def test_entropy_minimisation_makes_target_predictions_more_confident(tmp_path):
    model_so, target_so, _ = trained_features("source_only", tmp_path / "so")
    model_ent, target_ent, _ = trained_features({"name": "entropy", "trade_off": 1.0}, tmp_path / "ent")
    with torch.no_grad():
        h_so = entropy(model_so.model.classifier(target_so)).item()
        h_ent = entropy(model_ent.model.classifier(target_ent)).item()
    assert h_ent < 0.5 * h_so
