"""Feature alignment across the source domains, for domain generalization: CORAL and MMD as in
DomainBed (Gulrajani & Lopez-Paz, ICLR 2021; Sun & Saenko, ECCV-W 2016; Li et al., CVPR 2018).

No target data (``unseen_target``): the sources of the run are the training domains, and every
pair of them is aligned on the features,

  L = CE(all sources) + trade_off * mean_{i<j} distance(f_i, f_j).

``coral_dg``: mean((mu_i - mu_j)^2) + mean((C_i - C_j)^2), DomainBed's CORAL penalty (the same
as ``coral(form="tllib")``). ``mmd_dg``: dabench's multi-kernel MMD^2 (DomainBed uses fixed
bandwidths 0.001..1000). trade_off 1, DomainBed's default mmd_gamma.
"""
import itertools

import torch.nn.functional as F

from dabench.losses.discrepancy import coral, mmd
from dabench.methods.base import METHODS, Method


class PairwiseAlignment(Method):
    uses_target, needs_several_sources = False, True

    def __init__(self, trade_off: float = 1.0):
        super().__init__()
        self.trade_off = trade_off

    def distance(self, x, y):
        raise NotImplementedError

    def loss(self, s, t, progress):
        out = self.model(s.x)
        features = s.per_domain(out.features)
        pairs = list(itertools.combinations(features, 2))
        penalty = sum(self.distance(x, y) for x, y in pairs) / len(pairs)
        return {"cls": F.cross_entropy(out.logits, s.y), "align": self.trade_off * penalty}


@METHODS.register("coral_dg")
class CoralDG(PairwiseAlignment):
    def distance(self, x, y):
        return coral(x, y, form="tllib")


@METHODS.register("mmd_dg")
class MMDDG(PairwiseAlignment):
    def distance(self, x, y):
        return mmd(x, y)
