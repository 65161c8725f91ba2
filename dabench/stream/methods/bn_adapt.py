"""Test-batch normalisation statistics, optionally mixed with the source's. Schneider et al., "Improving
robustness against common corruptions by covariate shift adaptation", NeurIPS 2020, arXiv:2006.16971
(Nado et al. 2020 call the unmixed form prediction-time batch normalisation).

Every batch-norm layer normalises a batch with mean = a * mu_source + (1 - a) * mu_batch and
var = a * var_source + (1 - a) * var_batch (biased batch variance), a = `source_weight`; the paper's
prior N gives a = N / (N + n) for batches of n. a = 0 (the default) is pure test-batch statistics.
Updates no weight; keeps nothing between batches (each batch is normalised from its own statistics).
"""
import torch

from dabench.methods.adabn import batch_norm_layers
from dabench.stream.base import STREAM_METHODS, StreamMethod


@STREAM_METHODS.register("bn_adapt")
class BNAdapt(StreamMethod):
    """Batch norm with the test batch's statistics, mixed with the source's by `source_weight`."""

    updates = "nothing (normalisation statistics only)"

    def __init__(self, source_weight: float = 0.0):
        super().__init__()
        self.source_weight = source_weight

    def prepare(self):
        self.hooks = []
        for norm in batch_norm_layers(self.model):
            source = (norm.running_mean.clone(), norm.running_var.clone())
            self.hooks.append(norm.register_forward_pre_hook(self._mixer(source)))

    def _mixer(self, source):
        def mix(norm, inputs):
            x = inputs[0]
            dims = [0, *range(2, x.dim())]
            with torch.no_grad():
                norm.running_mean.copy_(self.source_weight * source[0] + (1 - self.source_weight) * x.mean(dims))
                norm.running_var.copy_(self.source_weight * source[1]
                                       + (1 - self.source_weight) * x.var(dims, unbiased=False))
        return mix
