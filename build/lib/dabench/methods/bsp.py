"""BSP: Batch Spectral Penalization, an add-on to an adversarial method. Chen et al., ICML 2019.

L = L_base + trade_off * sum_{i<=k} (sigma_i(F_s)^2 + sigma_i(F_t)^2) (Eq. 6): penalising the
largest singular values of the feature batches keeps the other eigen-features transferable.
`base` is the method it is added to ("dann" or "cdan", with its defaults). Defaults from
the paper: k = 1, trade_off 1e-4.
"""
from dabench.losses.terms import BatchSpectralPenalty
from dabench.methods.base import METHODS, Method


@METHODS.register("bsp")
class BSP(Method):
    def __init__(self, base: str = "dann", trade_off: float = 1e-4, k: int = 1):
        super().__init__()
        METHODS.get(base)  # an unknown base fails here, with the known names
        self.base, self.trade_off, self.k = base, trade_off, k

    def terms(self):
        return {**METHODS.build(self.base).terms(), "bsp": (self.trade_off, BatchSpectralPenalty(self.k))}
