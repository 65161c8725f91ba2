"""MDD: Margin Disparity Discrepancy. Zhang et al., ICML 2019, arXiv:1904.05801.

L = CE(source) + trade_off * [margin * CE(f'(x_s), h_f(x_s)) - log(1 - f'(x_t)[h_f(x_t)])],
with the adversarial head f' behind a gradient reversal layer (coefficient up to 0.1).
Defaults from the authors' code: margin 4, trade_off 1, head width 1024. TLlib's option:
`warm_start_iters` (the reversal ramp counted in iterations, with gamma 1). `init: mdd` draws the
adversarial head's weights as the MDD code does; the main head's shape and initialisation are
the model's (`model.head_width`, `model.init`; protocol: tllib sets both).
"""
from typing import Literal

from dabench.losses.terms import MarginDisparity
from dabench.methods.base import METHODS, Method


@METHODS.register("mdd")
class MDD(Method):
    def __init__(self, trade_off: float = 1.0, margin: float = 4.0, width: int = 1024, grl_max: float = 0.1,
                 gamma: float = 10.0, warm_start_iters: int | None = None, init: Literal["pytorch", "mdd"] = "pytorch"):
        super().__init__()
        self.trade_off, self.margin, self.width, self.grl_max = trade_off, margin, width, grl_max
        self.gamma, self.warm_start_iters, self.init = gamma, warm_start_iters, init

    def terms(self):
        return {"mdd": (self.trade_off, MarginDisparity(self.margin, self.width, self.grl_max, self.gamma,
                                                        self.warm_start_iters, self.init))}
