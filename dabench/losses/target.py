"""Losses computed on unlabeled target predictions or features (no labels involved)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
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
    return logit_entropies(logits).mean()


def logit_entropies(logits: Tensor) -> Tensor:
    """Shannon entropy (nats) of each row's softmax, (N, C) logits -> (N,), from log_softmax (no eps)."""
    log_p = upcast(logits).log_softmax(dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def sample_entropy(probs: Tensor, eps: float = 1e-5) -> Tensor:
    """Entropy of each row of `probs` (N, C) -> (N,), nats; eps avoids log 0."""
    return -(probs * torch.log(probs + eps)).sum(dim=1)


def information_maximization(logits: Tensor, diversity_weight: float = 1.0) -> Tensor:
    """E_i[H(p_i)] - diversity_weight * H(E_i[p_i]): confident yet diverse predictions.

    Krause et al., NeurIPS 2010 (RIM); the L_ent + L_div of SHOT (Liang et al., ICML 2020, Eq. 2).

    Args:
        logits: (N, C).
    Returns:
        scalar in [-log C, log C].
    """
    probs = upcast(logits).softmax(dim=1)
    return entropy(logits) - diversity_weight * sample_entropy(probs.mean(0, keepdim=True))[0]


def minimum_class_confusion(logits: Tensor, temperature: float = 2.5) -> Tensor:
    """MCC loss (Jin et al., ECCV 2020, Eq. 2-7).

    p = softmax(logits / T); sample weights w_i = 1 + exp(-H(p_i)), rescaled to sum to N;
    confusion C = p^T diag(w) p (C x C), each row divided by its sum (class normalisation);
    loss = (sum of off-diagonal entries of the normalised C) / num_classes.

    Args:
        logits: (N, C) target logits.
    Returns:
        scalar in [0, (C - 1) / C].
    """
    probs = (upcast(logits) / temperature).softmax(dim=1)
    n, num_classes = probs.shape
    weight = 1 + torch.exp(-sample_entropy(probs).detach())
    weight = n * weight / weight.sum()
    confusion = (probs * weight.unsqueeze(1)).T @ probs
    confusion = confusion / confusion.sum(dim=1, keepdim=True)
    return (confusion.sum() - confusion.trace()) / num_classes


def batch_nuclear_norm(logits: Tensor) -> Tensor:
    """BNM loss, -||softmax(logits)||_* / N (Cui et al., CVPR 2020, Eq. 9); minimise it.

    Args:
        logits: (N, C).
    Returns:
        scalar in [-sqrt(min(N, C) / N), 0].
    """
    probs = upcast(logits).softmax(dim=1)
    return -torch.linalg.matrix_norm(probs, ord="nuc") / len(probs)


def classifier_discrepancy(logits_1: Tensor, logits_2: Tensor) -> Tensor:
    """MCD's discrepancy, mean_i 1/C sum_c |p1_ic - p2_ic| (Saito et al., CVPR 2018, Eq. 1)."""
    return (upcast(logits_1).softmax(dim=1) - upcast(logits_2).softmax(dim=1)).abs().mean()


def stepwise_feature_norm(features: Tensor, delta_r: float = 1.0) -> Tensor:
    """SAFN (Xu et al., ICCV 2019, Eq. 6): mean_i (||h_i|| - (||h_i||_detached + delta_r))^2.

    Each step asks every feature norm to grow by `delta_r` from its current value.

    Args:
        features: (N, d).
    Returns:
        scalar; delta_r^2 at the current point, with gradient -2 delta_r d||h||.
    """
    norm = upcast(features).norm(p=2, dim=1)
    return (norm - (norm.detach() + delta_r)).square().mean()


def confident_pseudo_label_loss(weak_logits: Tensor, strong_logits: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """FixMatch's unlabeled loss (Sohn et al., NeurIPS 2020, Eq. 4).

    Hard pseudo-labels argmax p_weak, kept where max p_weak >= threshold, supervise the
    strongly augmented view: 1/N sum_i 1[max p_i >= tau] CE(strong_i, argmax p_i).

    Args:
        weak_logits: (N, C), treated as constants; strong_logits: (N, C).
    Returns:
        (scalar loss, fraction of the batch above the threshold).
    """
    confidence, pseudo = upcast(weak_logits).detach().softmax(dim=1).max(dim=1)
    mask = (confidence >= threshold).float()
    return (F.cross_entropy(upcast(strong_logits), pseudo, reduction="none") * mask).mean(), mask.mean()


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Knowledge distillation, T^2 KL(softmax(teacher / T) || softmax(student / T)), batch mean.

    Hinton, Vinyals & Dean, 2015 (arXiv:1503.02531): the T^2 factor keeps the gradient scale
    independent of T.

    Args:
        student_logits, teacher_logits: (N, C); the teacher's are treated as constants.
    Returns:
        scalar >= 0, zero when the two agree.
    """
    log_student = (upcast(student_logits) / temperature).log_softmax(dim=1)
    log_teacher = (upcast(teacher_logits).detach() / temperature).log_softmax(dim=1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature ** 2
