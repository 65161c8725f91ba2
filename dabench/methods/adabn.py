"""AdaBN: Adaptive Batch Normalization. Li et al., ICLR-W 2017 / Pattern Recognition 2018, arXiv:1603.04779.

Stage 1 (shared, cached): source only. Stage 2 trains nothing: every batch-norm layer's
statistics are reset and re-estimated as the cumulative average over the target batches
of the run's `trainer.steps` steps; all weights stay the source model's.
"""
import torch
from torch import nn

from dabench.methods.base import METHODS, Method


def batch_norm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@METHODS.register("adabn")
class AdaBN(Method):
    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.steps = steps
        self.norms = batch_norm_layers(model)  # found once: the step only sets their momentum

    def source_stage(self):
        return {"method": "source_only"}

    def start_from(self, source_model):
        super().start_from(source_model)
        for module in self.model.modules():
            if next(module.children(), None) is None and module not in self.norms:
                self.freeze(module)  # dropout off, weights fixed
        for norm in self.norms:
            norm.requires_grad_(False)
            norm.reset_running_stats()

    def loss(self, s, t, progress):
        # The cumulative average over target batches: the n-th batch enters with momentum 1 / n. Set
        # from the step number on the host; momentum=None would read num_batches_tracked with
        # float(), one device sync per layer per step.
        batches = round(progress * self.steps) + 1
        for norm in self.norms:
            norm.momentum = 1.0 / batches
        with torch.no_grad():
            self.model(t.x)  # train-mode batch norm updates its running statistics
        return {}
