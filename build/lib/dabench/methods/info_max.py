"""Information maximization on target: confident and diverse predictions.

Krause, Perona & Gomes, NeurIPS 2010 (RIM); the objective SHOT adapts with (Liang et al.,
ICML 2020, Eq. 2). L = CE(source) + trade_off * (E_i[H(p_i)] - diversity_weight * H(E_i[p_i])).
Defaults: trade_off 1.0 and diversity_weight 1.0 (SHOT).
"""
from dabench.losses.terms import InformationMaximization
from dabench.methods.base import METHODS, Method


@METHODS.register("info_max")
class InfoMax(Method):
    def __init__(self, trade_off: float = 1.0, diversity_weight: float = 1.0):
        super().__init__()
        self.trade_off, self.diversity_weight = trade_off, diversity_weight

    def terms(self):
        return {"im": (self.trade_off, InformationMaximization(self.diversity_weight))}
