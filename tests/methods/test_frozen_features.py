import pytest
import torch

from dabench.errors import DabenchError
from dabench.log import Loggers
from dabench.testing import build_toy, toy_config


def test_backbone_stays_fixed_while_the_head_learns(tmp_path):
    cfg = toy_config({"name": "frozen_features", "allow_random_backbone": True},
                     model={"backbone": {"name": "mlp", "hidden": [16], "dropout": 0.5}, "bottleneck_dim": 8})
    trainer, method, data = build_toy(cfg)
    backbone = {k: v.clone() for k, v in method.model.backbone.state_dict().items()}
    head = method.model.classifier.weight.clone()
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert all(torch.equal(backbone[k], v) for k, v in method.model.backbone.state_dict().items())
    assert not torch.equal(head, method.model.classifier.weight)
    method.train()
    assert not method.model.backbone.training  # dropout and batch norm stay in eval mode


@pytest.mark.parametrize("name", ["frozen_features", "fine_tune"])
def test_a_random_backbone_is_refused_unless_asked_for(name):
    with pytest.raises(DabenchError, match=f"method '{name}' transfers a pretrained backbone, but backbone 'mlp' "
                                           "has no pretrained weights; .* or set method.allow_random_backbone=true"):
        toy_config(name)
    assert toy_config({"name": name, "allow_random_backbone": True})["method"]["allow_random_backbone"]
