"""AFN (SAFN): Stepwise Adaptive Feature Norm. Xu et al., ICCV 2019, arXiv:1811.07456.

L = CE(source) + trade_off * sum_{domain} mean_i (||h_i|| - (||h_i||_detached + delta_r))^2
(Eq. 6), plus an optional target entropy term (SAFN+ENT). Defaults from the paper's Office
experiments: trade_off 0.05, delta_r 1.0, entropy 0.
"""
from dabench.losses.terms import StepwiseFeatureNorm, TargetEntropy
from dabench.methods.base import METHODS, Method


@METHODS.register("afn")
class AFN(Method):
    def __init__(self, trade_off: float = 0.05, delta_r: float = 1.0, entropy: float = 0.0):
        super().__init__()
        self.trade_off, self.delta_r, self.entropy = trade_off, delta_r, entropy

    def terms(self):
        terms = {"norm": (self.trade_off, StepwiseFeatureNorm(self.delta_r))}
        if self.entropy:
            terms["ent"] = (self.entropy, TargetEntropy())
        return terms
