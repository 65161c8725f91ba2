"""CDAN and CDAN+E: Conditional Adversarial Domain Adaptation. Long et al., NeurIPS 2018, arXiv:1705.10667.

L = CE(source) + trade_off * BCE(D(GRL(f (x) g))) (Eq. 7): the discriminator sees the
multilinear map of features f and predictions g (randomized above 4096 dimensions).
CDAN+E weights each sample by 1 + exp(-H(g)) (Eq. 9). Default trade_off 1.0 (paper, Sec. 5).
"""
from dabench.losses.terms import ConditionalAdversarial
from dabench.methods.base import METHODS, Method


@METHODS.register("cdan")
class CDAN(Method):
    def __init__(self, trade_off: float = 1.0, entropy_conditioning: bool = False, hidden: int = 1024,
                 random_dim: int = 1024):
        super().__init__()
        self.trade_off, self.entropy_conditioning = trade_off, entropy_conditioning
        self.hidden, self.random_dim = hidden, random_dim

    def terms(self):
        term = ConditionalAdversarial(self.hidden, entropy_conditioning=self.entropy_conditioning,
                                      random_dim=self.random_dim)
        return {"adv": (self.trade_off, term)}


@METHODS.register("cdan_e")
class CDANE(CDAN):
    """CDAN+E: CDAN with entropy conditioning always on."""

    def __init__(self, trade_off: float = 1.0, hidden: int = 1024, random_dim: int = 1024):
        super().__init__(trade_off, True, hidden, random_dim)
