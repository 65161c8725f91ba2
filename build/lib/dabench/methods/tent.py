"""TENT: Fully Test-Time Adaptation by Entropy Minimization. Wang et al., ICLR 2021, arXiv:2006.10726.

Stage 1 (shared, cached): source only. Stage 2 reads no source data and learns only the
affine parameters (scale and shift) of the batch-norm layers, minimising the mean entropy
of the predictions on target batches, normalised with the batch's own statistics (Sec. 3).
As in AdaBN the running statistics are re-estimated on those batches, and evaluation uses
them (the paper normalises each test batch with its own statistics instead).
"""
from dabench.losses.target import entropy
from dabench.methods.adabn import AdaBN, batch_norm_layers
from dabench.methods.base import METHODS


@METHODS.register("tent")
class TENT(AdaBN):
    def __init__(self, trade_off: float = 1.0):
        super().__init__()
        self.trade_off = trade_off

    def start_from(self, source_model):
        super().start_from(source_model)
        for norm in batch_norm_layers(self.model):
            norm.requires_grad_(True)

    def loss(self, s, t, progress):
        return {"ent": self.trade_off * entropy(self.model(t.x).logits)}
