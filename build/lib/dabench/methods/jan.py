"""JAN: Joint Adaptation Networks. Long et al., ICML 2017, arXiv:1605.06636.

L = CE(source) + trade_off * JMMD^2([features, softmax]_s, [features, softmax]_t) (Eq. 10):
the joint distribution of the last layers is aligned with a product of kernels.
Default trade_off 1.0 (authors' code and TLlib).
"""
from dabench.losses.terms import JointMMD
from dabench.methods.base import METHODS, Method


@METHODS.register("jan")
class JAN(Method):
    def __init__(self, trade_off: float = 1.0, prediction_sigma: float = 0.92):
        super().__init__()
        self.trade_off, self.prediction_sigma = trade_off, prediction_sigma

    def terms(self):
        return {"jmmd": (self.trade_off, JointMMD(prediction_sigma=self.prediction_sigma))}
