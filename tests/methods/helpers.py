"""Shared by the behaviour tests: train on toy a->b and measure the domains' features."""
import torch

from dabench.log import Loggers
from dabench.testing import build_toy, toy_config


def trained_features(method, tmp_path, steps: int = 150):
    """Train `method` on toy (shift 3) and return (method, target-train features, source-train features)."""
    cfg = toy_config(method, dataset={"name": "toy", "shift": 3.0}, trainer={"steps": steps, "eval_every": steps})
    trainer, built, data = build_toy(cfg)
    trainer.fit(built, data, tmp_path, Loggers(), seed=0)
    built.eval()
    with torch.no_grad():
        return built, built.model(data.target_train).features, built.model(data.source_train.x).features
