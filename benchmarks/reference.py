"""What the reference loops in speed.py and gpu_speed.py share, written without dabench (they stand for the code
a researcher writes by hand)."""
from __future__ import annotations

import torch


class GradientReversal(torch.autograd.Function):
    """Identity forward, -coefficient x the gradient backward (DANN's gradient reversal layer)."""

    @staticmethod
    def forward(ctx, x, coefficient):
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coefficient * grad, None
