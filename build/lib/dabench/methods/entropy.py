"""Entropy minimisation on target. Grandvalet & Bengio, NeurIPS 2004.

L = CE(source) + trade_off * mean_i H(softmax(logits_t_i)); the L_t of the joint loss.
Default weight 0.1, the entropy weight used with AFN and MCD (TLlib).
"""
from dabench.losses.terms import TargetEntropy
from dabench.methods.base import METHODS, Method


@METHODS.register("entropy")
class EntropyMinimization(Method):
    def __init__(self, trade_off: float = 0.1):
        super().__init__()
        self.trade_off = trade_off

    def terms(self):
        return {"ent": (self.trade_off, TargetEntropy())}
