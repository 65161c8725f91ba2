"""DANN: Domain-Adversarial Neural Network. Ganin et al., JMLR 2016, arXiv:1505.07818.

L = CE(source) + trade_off * BCE(D(GRL_lambda(f_s)), 1; D(GRL_lambda(f_t)), 0),
lambda_p = 2 / (1 + exp(-gamma p)) - 1. Discriminator: 1024-1024-1 MLP with dropout (Sec. 5.2.2).
TLlib's options: `warm_start_iters` (the ramp counted in iterations, with gamma 1) and
`discriminator: batchnorm`.
"""
from typing import Literal

from dabench.losses.terms import DomainAdversarial
from dabench.methods.base import METHODS, Method


@METHODS.register("dann")
class DANN(Method):
    def __init__(self, trade_off: float = 1.0, hidden: int = 1024, gamma: float = 10.0,
                 warm_start_iters: int | None = None, discriminator: Literal["dropout", "batchnorm"] = "dropout"):
        super().__init__()
        self.trade_off, self.hidden, self.gamma = trade_off, hidden, gamma
        self.warm_start_iters, self.discriminator = warm_start_iters, discriminator

    def terms(self):
        return {"adv": (self.trade_off, DomainAdversarial(self.hidden, self.gamma, self.warm_start_iters,
                                                          self.discriminator))}
