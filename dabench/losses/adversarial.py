"""Gradient reversal and the domain-adversarial loss (Ganin et al., JMLR 2016)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dabench.losses import upcast


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, coeff: float) -> Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.coeff * grad, None


def grad_reverse(x: Tensor, coeff: float) -> Tensor:
    """Identity forward; multiplies the gradient by -coeff backward (DANN Sec. 5.2, R_lambda)."""
    return _GradReverse.apply(x, coeff)


def dann_coefficient(progress: float, gamma: float = 10.0) -> float:
    """The DANN adaptation factor lambda_p = 2 / (1 + exp(-gamma p)) - 1 (JMLR 2016, Sec. 5.2.2).

    progress p in [0, 1] is the fraction of training done; lambda goes from 0 to ~1.
    """
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def domain_adversarial_loss(logits_s: Tensor, logits_t: Tensor) -> Tensor:
    """Binary domain-classification loss, source labelled 1 and target 0 (DANN Eq. 9).

    BCE-with-logits (not BCE on sigmoid outputs) so that CUDA autocast accepts it.

    Args:
        logits_s: (n, 1) discriminator logits on source; logits_t: (m, 1) on target.
    Returns:
        scalar: mean over the n + m samples; log(2) when all logits are 0.
    """
    logits = upcast(torch.cat([logits_s, logits_t])).squeeze(1)
    labels = torch.cat([torch.ones(len(logits_s)), torch.zeros(len(logits_t))]).to(logits)
    return F.binary_cross_entropy_with_logits(logits, labels)


class DomainDiscriminator(nn.Module):
    """The DANN domain classifier: in_dim -> hidden -> hidden -> 1 logit (ReLU, dropout 0.5)."""

    def __init__(self, in_dim: int, hidden: int = 1024):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)
