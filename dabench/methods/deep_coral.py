"""Deep CORAL: correlation alignment. Sun & Saenko, ECCV Workshops 2016, arXiv:1607.01719.

L = CE(source) + trade_off * ||C_s - C_t||_F^2 / (4 d^2), on the bottleneck features
(the paper aligns fc8 outputs; TLlib and DeepDA use the features before the classifier).
`form: tllib` is TLlib's loss: a mean-difference term plus 4x the paper's covariance term.
"""
from typing import Literal

from dabench.losses.terms import CORAL
from dabench.methods.base import METHODS, Method


@METHODS.register("deep_coral")
class DeepCORAL(Method):
    def __init__(self, trade_off: float = 1.0, form: Literal["paper", "tllib"] = "paper"):
        super().__init__()
        self.trade_off, self.form = trade_off, form

    def terms(self):
        return {"coral": (self.trade_off, CORAL(self.form))}
