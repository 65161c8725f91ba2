"""Helpers for testing methods, here and in users' packages.

``toy_config()`` is a complete run config on the ``toy`` dataset (seconds on a CPU);
``outputs()`` gives fixed random Outputs for loss tests; ``build_toy()`` builds the
trainer, the method with its model, and the data, ready for ``trainer.fit``.
"""
from __future__ import annotations

import torch

from dabench.config import merge, resolve
from dabench.run import build
from dabench.types import Outputs


def outputs(n: int = 8, dim: int = 5, classes: int = 3, seed: int = 0,
            dtype: torch.dtype = torch.float32) -> tuple[Outputs, Outputs]:
    """Source and target Outputs with random features (n, dim) and logits (n, classes)."""
    g = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=g).to(dtype)  # noqa: E731
    return Outputs(make(n, dim), make(n, classes)), Outputs(make(n, dim) + 1, make(n, classes))


def toy_config(method: str | dict = "source_only", **sections) -> dict:
    """A resolved config for `method` on toy a->b: MLP backbone, 20 steps, no progress bar."""
    cfg = {"dataset": "toy", "source": "a", "target": "b", "method": method, "seed": 0,
           "model": {"backbone": {"name": "mlp", "hidden": [16]}, "bottleneck_dim": 8},
           "trainer": {"steps": 20, "batch_size": 16, "eval_every": 10, "log_every": 5, "device": "cpu"}}
    return resolve(merge(cfg, sections))


def build_toy(cfg: dict):
    """(trainer, method, data) for a resolved config, seeded by cfg['seed']."""
    trainer, _, data, method = build(cfg)
    return trainer, method, data
