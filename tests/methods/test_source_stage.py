"""Two-stage methods start from a cached source-only model that every target shares."""
import torch

from dabench.run import cache_dir, source_stage_config, train
from dabench.testing import toy_config


def test_the_source_stage_is_trained_once_and_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
    cfg = toy_config("tent")
    first = train(cfg, tmp_path / "tent")
    stage = first["source_stage"]
    assert stage["method"]["name"] == "source_only" and stage["source_test_accuracy"] > 50
    stamp = (tmp_path / "cache").glob("source_models/*/result.json").__next__().stat().st_mtime_ns
    second = train(toy_config("adabn"), tmp_path / "adabn")  # same source stage: reused
    assert second["source_stage"]["path"] == stage["path"]
    assert next((tmp_path / "cache").glob("source_models/*/result.json")).stat().st_mtime_ns == stamp
    assert len(list(cache_dir().glob("source_models/*"))) == 1


def test_the_stage_has_no_target_and_starts_the_method_from_its_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
    cfg = toy_config("adabn", target_labeled=2)
    stage_cfg = source_stage_config(cfg, {"method": "source_only"})
    assert stage_cfg["target"] == stage_cfg["source"] == "a" and stage_cfg["target_labeled"] == 0
    from dabench.testing import build_toy

    _, method, _ = build_toy(cfg)
    weights = torch.load(next(cache_dir().glob("source_models/*/checkpoint.pt")), weights_only=True)["method"]
    assert torch.equal(method.model.classifier.weight, weights["model.classifier.weight"])
