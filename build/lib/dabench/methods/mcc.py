"""MCC: Minimum Class Confusion. Jin et al., ECCV 2020, arXiv:1912.03699.

L = CE(source) + trade_off * MCC(target logits / T): the off-diagonal mass of the
uncertainty-weighted, class-normalised target confusion matrix. Defaults from the paper:
T = 2.5, trade_off 1.0.
"""
from dabench.losses.terms import MinimumClassConfusion
from dabench.methods.base import METHODS, Method


@METHODS.register("mcc")
class MCC(Method):
    def __init__(self, trade_off: float = 1.0, temperature: float = 2.5):
        super().__init__()
        self.trade_off, self.temperature = trade_off, temperature

    def terms(self):
        return {"mcc": (self.trade_off, MinimumClassConfusion(self.temperature))}
