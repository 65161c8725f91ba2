import torch

from dabench.methods.base import METHODS
from dabench.models.backbones import BACKBONES
from dabench.models.model import Model
from dabench.types import Batch


def test_source_only_never_forwards_target_data():
    method = METHODS.build("source_only")
    method.build(Model(BACKBONES.build({"name": "mlp", "hidden": [4]}, input_shape=(3,)), 2, 4), num_classes=2, steps=100)
    s = Batch(torch.randn(8, 3), torch.randint(0, 2, (8,)), torch.arange(8))
    poisoned = Batch(torch.full((8, 3), float("nan")), None, torch.arange(8))
    terms = method.loss(s, poisoned, progress=0.0)
    assert set(terms) == {"cls"} and torch.isfinite(terms["cls"])
