"""DAN: Deep Adaptation Network. Long, Cao, Wang & Jordan, ICML 2015, arXiv:1502.02791.

L = CE(source) + trade_off * MK-MMD^2(features_s, features_t)
Deviation: one adapted layer (the bottleneck features), as in TLlib, not fc6-fc8; kernel
weights are equal (the paper learns them by a QP); the biased quadratic-time estimate, or
with `estimator: linear` the linear-time one (Eq. 5) as TLlib's DAN script runs it.
"""
from typing import Literal

from dabench.losses.terms import MultiKernelMMD
from dabench.methods.base import METHODS, Method


@METHODS.register("dan")
class DAN(Method):
    def __init__(self, trade_off: float = 1.0, kernel_mul: float = 2.0, num_kernels: int = 5,
                 estimator: Literal["biased", "linear"] = "biased"):
        super().__init__()
        self.trade_off, self.kernel_mul, self.num_kernels, self.estimator = trade_off, kernel_mul, num_kernels, estimator

    def terms(self):
        return {"mmd": (self.trade_off, MultiKernelMMD(self.kernel_mul, self.num_kernels, self.estimator))}
