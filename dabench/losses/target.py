"""Losses computed on unlabeled target predictions."""
from __future__ import annotations

from torch import Tensor

from dabench.losses import upcast


def entropy(logits: Tensor) -> Tensor:
    """Mean Shannon entropy (nats) of softmax predictions, -1/N sum_i sum_c p_ic log p_ic.

    Entropy minimisation on target (Grandvalet & Bengio, NeurIPS 2004).

    Args:
        logits: (N, C).
    Returns:
        scalar in [0, log C].
    """
    log_p = upcast(logits).log_softmax(dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()
