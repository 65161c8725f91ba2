"""CDAN and CDAN+E: Conditional Adversarial Domain Adaptation. Long et al., NeurIPS 2018, arXiv:1705.10667.

L = CE(source) + trade_off * BCE(D(GRL(f (x) g))) (Eq. 7): the discriminator sees the
multilinear map of features f and predictions g (randomized above 4096 dimensions).
CDAN+E weights each sample by 1 + exp(-H(g)) (Eq. 9). Default trade_off 1.0 (paper, Sec. 5).
TLlib's options as in DANN: `warm_start_iters`, `discriminator: batchnorm`.
"""
from typing import Literal

from dabench.losses.terms import ConditionalAdversarial
from dabench.methods.base import METHODS, Method


@METHODS.register("cdan")
class CDAN(Method):
    def __init__(self, trade_off: float = 1.0, entropy_conditioning: bool = False, hidden: int = 1024,
                 random_dim: int = 1024, gamma: float = 10.0, warm_start_iters: int | None = None,
                 discriminator: Literal["dropout", "batchnorm"] = "dropout"):
        super().__init__()
        self.trade_off, self.entropy_conditioning = trade_off, entropy_conditioning
        self.hidden, self.random_dim, self.gamma = hidden, random_dim, gamma
        self.warm_start_iters, self.discriminator = warm_start_iters, discriminator

    def terms(self):
        term = ConditionalAdversarial(self.hidden, self.gamma, entropy_conditioning=self.entropy_conditioning,
                                      random_dim=self.random_dim, warm_start_iters=self.warm_start_iters,
                                      discriminator=self.discriminator)
        return {"adv": (self.trade_off, term)}


@METHODS.register("cdan_e")
class CDANE(CDAN):
    """CDAN+E: CDAN with entropy conditioning always on."""

    def __init__(self, trade_off: float = 1.0, hidden: int = 1024, random_dim: int = 1024, gamma: float = 10.0,
                 warm_start_iters: int | None = None, discriminator: Literal["dropout", "batchnorm"] = "dropout"):
        super().__init__(trade_off, True, hidden, random_dim, gamma, warm_start_iters, discriminator)
