"""Regularisers of fine-tuning, as pure functions (the methods in dabench/methods/ weight and combine them)."""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor


def l2_distance(params: Iterable[Tensor], start: Iterable[Tensor]) -> Tensor:
    """sum_j ||w_j - w0_j||^2 over paired parameter tensors (L2-SP's Omega without its alpha / 2)."""
    return sum(((p - p0).pow(2).sum() for p, p0 in zip(params, start, strict=True)), torch.zeros(()))


def l2_norm(params: Iterable[Tensor]) -> Tensor:
    """sum_j ||w_j||^2 (L2-SP's penalty on the new layers, without its beta / 2)."""
    return sum((p.pow(2).sum() for p in params), torch.zeros(()))


def smallest_singular_values(features: Tensor, k: int = 1) -> Tensor:
    """BSS's penalty: sum of the k smallest squared singular values of the (N, d) feature matrix."""
    return torch.linalg.svdvals(features.float()).flip(0)[:k].pow(2).sum()


def soft_cross_entropy(logits: Tensor, target_probs: Tensor, temperature: float = 1.0) -> Tensor:
    """mean_i -sum_c q_ic log softmax(logits_i / T)_c, for (N, C) logits and (N, C) target probabilities q."""
    return -(target_probs * F.log_softmax(logits / temperature, dim=1)).sum(dim=1).mean()
