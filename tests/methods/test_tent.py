import torch

from dabench.log import Loggers
from dabench.testing import build_toy, toy_config


def test_tent_updates_only_batch_norm_affine_parameters_without_source_data(tmp_path):
    trainer, method, data = build_toy(toy_config("tent"))
    before = {k: v.clone() for k, v in method.named_parameters()}
    original = method.updates
    method.updates = lambda s, t, progress, t_labeled=None: original(None, t, progress, t_labeled)
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    changed = {k for k, v in method.named_parameters() if not torch.equal(before[k], v)}
    assert changed == {"model.bottleneck.1.weight", "model.bottleneck.1.bias"}  # the BatchNorm1d of the bottleneck
    trainable = {k for k, v in method.named_parameters() if v.requires_grad}
    assert trainable == changed
