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


def reversal_coefficient(progress: float, steps: int, gamma: float = 10.0, warm_start_iters: int | None = None,
                         peak: float = 1.0) -> float:
    """The gradient-reversal coefficient at a point of training: peak * lambda(x), lambda as in ``dann_coefficient``.

    - ``warm_start_iters=None`` (the DANN paper): x = progress, so the ramp spans the whole run
      whatever its length.
    - ``warm_start_iters=N`` (TLlib's WarmStartGradientReverseLayer, which uses gamma 1): x = i / N
      with i = progress * steps the iteration, so the ramp has a fixed length in iterations.

    Args:
        progress: fraction of training done, in [0, 1]; steps: the run's iterations.
        peak: the coefficient's limit (MDD uses 0.1).
    """
    x = progress if warm_start_iters is None else progress * steps / warm_start_iters
    return peak * dann_coefficient(x, gamma)


def domain_adversarial_loss(logits_s: Tensor, logits_t: Tensor, weight: Tensor | None = None) -> Tensor:
    """Binary domain-classification loss, source labelled 1 and target 0 (DANN Eq. 9).

    BCE-with-logits (not BCE on sigmoid outputs) so that CUDA autocast accepts it.

    Args:
        logits_s: (n, 1) discriminator logits on source; logits_t: (m, 1) on target.
        weight: optional (n + m,) per-sample weights (CDAN+E's entropy conditioning).
    Returns:
        scalar: (weighted) mean over the n + m samples; log(2) when all logits are 0.
    """
    logits = upcast(torch.cat([logits_s, logits_t])).squeeze(1)
    labels = torch.cat([torch.ones_like(logits[:len(logits_s)]), torch.zeros_like(logits[len(logits_s):])])  # on device
    return F.binary_cross_entropy_with_logits(logits, labels, weight=weight)


def multilinear_map(features: Tensor, probs: Tensor) -> Tensor:
    """CDAN's conditioning f (x) g: the flattened outer product (Long et al., NeurIPS 2018, Eq. 4).

    Args:
        features: (N, d); probs: (N, C).
    Returns:
        (N, d * C), entry [i, a * C + c] = features[i, a] * probs[i, c].
    """
    return (features.unsqueeze(2) * probs.unsqueeze(1)).flatten(1)


class RandomizedMultilinearMap(nn.Module):
    """CDAN's randomized map (R_f f) . (R_g g) / sqrt(d_out) (Eq. 5), for d * C too large.

    R_f (d, d_out) and R_g (C, d_out) are fixed standard Gaussian matrices (buffers, saved
    with the model), so <T(h), T(h')> is an unbiased estimate of <f (x) g, f' (x) g'>.
    """

    def __init__(self, feature_dim: int, num_classes: int, output_dim: int = 1024):
        super().__init__()
        self.output_dim = output_dim
        self.register_buffer("random_f", torch.randn(feature_dim, output_dim))
        self.register_buffer("random_g", torch.randn(num_classes, output_dim))

    def forward(self, features: Tensor, probs: Tensor) -> Tensor:
        """(N, d), (N, C) -> (N, output_dim)."""
        return (features @ self.random_f) * (probs @ self.random_g) / math.sqrt(self.output_dim)


def entropy_weights(probs: Tensor) -> Tensor:
    """CDAN+E's sample weights 1 + exp(-H(g)), rescaled to mean 1 over the batch (Eq. 9).

    Args:
        probs: (N, C) softmax predictions (constants).
    Returns:
        (N,) weights with sum N.
    """
    ent = -(probs * torch.log(probs + 1e-5)).sum(dim=1)
    weight = 1 + torch.exp(-ent)
    return weight * len(weight) / weight.sum()


def margin_disparity_discrepancy(adv_logits_s: Tensor, adv_logits_t: Tensor, pred_s: Tensor, pred_t: Tensor,
                                 margin: float = 4.0) -> Tensor:
    """The loss the MDD adversarial head f' minimises (Zhang et al., ICML 2019, Eq. 29 negated).

    margin * CE(f'(x_s), h_f(x_s)) - mean log(1 - softmax(f'(x_t))[h_f(x_t)]): f' learns to
    agree with the main classifier's predictions h_f on source and to disagree on target;
    behind a gradient reversal layer the features learn the opposite.

    Args:
        adv_logits_s: (n, C), adv_logits_t: (m, C) adversarial-head logits.
        pred_s: (n,), pred_t: (m,) the main classifier's argmax predictions.
        margin: gamma of the margin loss (4 in the paper's Office experiments).
    Returns:
        scalar.
    """
    source = F.cross_entropy(upcast(adv_logits_s), pred_s)
    p_t = upcast(adv_logits_t).softmax(dim=1).gather(1, pred_t.unsqueeze(1)).squeeze(1)
    target = -torch.log((1 - p_t).clamp_min(1e-6)).mean()
    return margin * source + target


class DomainDiscriminator(nn.Module):
    """The DANN domain classifier: in_dim -> hidden -> hidden -> `outputs` logits (1: source vs target;
    one per training domain for domain generalization).

    ``norm="dropout"``: Linear-ReLU-Dropout(0.5) blocks, as in the DANN paper (Sec. 5.2.2).
    ``norm="batchnorm"``: Linear-BatchNorm-ReLU blocks without dropout, TLlib's default.
    """

    def __init__(self, in_dim: int, hidden: int = 1024, norm: str = "dropout", outputs: int = 1):
        super().__init__()
        if norm not in ("dropout", "batchnorm"):
            raise ValueError(f"discriminator norm is 'dropout' or 'batchnorm', got {norm!r}")

        def block(width_in: int) -> list[nn.Module]:
            if norm == "batchnorm":
                return [nn.Linear(width_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            return [nn.Linear(width_in, hidden), nn.ReLU(), nn.Dropout(0.5)]

        self.net = nn.Sequential(*block(in_dim), *block(hidden), nn.Linear(hidden, outputs))

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)
