"""M3SDA's moment matching: Moment Matching for Multi-Source Domain Adaptation. Peng, Bai, Xia,
Huang, Saenko & Wang, ICCV 2019, arXiv:1812.01754.

Multi-source DA (several ``source`` domains). The shared features of every source batch and the
target batch are aligned by their first and second moments, source to target and source to
source (``moment_distance``, Eq. 1):

  L = CE(all sources) + trade_off * MD^2(f_1, ..., f_N; f_T).

This is the moment-matching part of M3SDA with a single classifier; the per-source classifiers
and their weighted vote (M3SDA-beta) are not included. Eq. 1 as written (raw moments, averaged
over sources and pairs); copies of the authors' code use centred moments up to order 5, summed,
with weights of 1e-4 to 5e-4 that could not be checked against the original offline. trade_off
0.1 is dabench's choice: at 1.0 the features collapse on the toy data (a zero feature matches
every moment).
"""
import torch.nn.functional as F

from dabench.losses.discrepancy import moment_distance
from dabench.methods.base import METHODS, Method


@METHODS.register("m3sda")
class M3SDA(Method):
    needs_several_sources = True

    def __init__(self, trade_off: float = 0.1, moments: int = 2):
        super().__init__()
        self.trade_off, self.moments = trade_off, moments

    def loss(self, s, t, progress):
        out_s, out_t = self.forward_pair(s.x, t.x)
        per_source = s.per_domain(out_s.features)
        return {"cls": F.cross_entropy(out_s.logits, s.y),
                "moments": self.trade_off * moment_distance(per_source, out_t.features, self.moments)}
