"""BNM: Batch Nuclear-norm Maximization. Cui et al., CVPR 2020, arXiv:2003.12237.

L = CE(source) - trade_off * ||softmax(target logits)||_* / B (Eq. 9): maximising the nuclear
norm of the target prediction matrix raises both confidence and diversity. Default
trade_off 1.0 (paper, Sec. 4.2).
"""
from dabench.losses.terms import BatchNuclearNorm
from dabench.methods.base import METHODS, Method


@METHODS.register("bnm")
class BNM(Method):
    def __init__(self, trade_off: float = 1.0):
        super().__init__()
        self.trade_off = trade_off

    def terms(self):
        return {"bnm": (self.trade_off, BatchNuclearNorm())}
