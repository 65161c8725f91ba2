"""EATA: Efficient Anti-forgetting Test-time Adaptation. Niu et al., ICML 2022, arXiv:2204.02610.

TENT's update on reliable, non-redundant samples only, each weighted by its confidence (Eq. 3-6):
a sample counts if its entropy E < E0 = `entropy_margin` * ln C (0.4) and its softmax is not too
close to the moving average m of earlier selected predictions, |cos(p, m)| < `redundancy_margin`
(0.05); the loss is the mean over selected samples of E / exp(E - E0), and
m <- 0.9 m + 0.1 mean(selected p). A batch with no selected sample takes no step.
The anti-forgetting Fisher regulariser (Eq. 9) needs in-distribution samples, which a stream does
not give: it is left out, so this is the paper's ETA (its Table 5 ablation), as the name says
in the catalogue. Updates the batch-norm affine parameters; keeps them, SGD momentum and m.
"""
import math

import torch
import torch.nn.functional as F

from dabench.losses.target import logit_entropies
from dabench.stream.base import STREAM_METHODS
from dabench.stream.methods.tent import TENT


@STREAM_METHODS.register("eata")
class EATA(TENT):
    """ETA: confidence- and diversity-filtered, confidence-weighted entropy minimisation (no Fisher term)."""

    keeps = "the adapted affine parameters, SGD momentum and the moving average of selected predictions"
    kept_attributes = ("average_probs",)

    def __init__(self, lr: float = 0.00025, momentum: float = 0.9, entropy_margin: float = 0.4,
                 redundancy_margin: float = 0.05):
        super().__init__(lr, momentum)
        self.entropy_margin, self.redundancy_margin = entropy_margin, redundancy_margin
        self.average_probs = None  # m: (C,), none until a sample is selected

    def objective(self, logits):
        e0 = self.entropy_margin * math.log(logits.shape[1])
        entropies = logit_entropies(logits)
        probs = logits.softmax(1).detach()
        keep = entropies < e0
        if self.average_probs is not None:
            keep &= F.cosine_similarity(probs, self.average_probs[None], dim=1).abs() < self.redundancy_margin
        if not keep.any():
            return None  # no step: the momentum of earlier batches must not move the weights
        mean = probs[keep].mean(0)
        self.average_probs = mean if self.average_probs is None else 0.9 * self.average_probs + 0.1 * mean
        selected = entropies[keep]
        return (selected / torch.exp(selected.detach() - e0)).mean()
