"""The five standard transferability scores, as pure numpy functions of one forward pass.

Each takes the target's labeled samples as seen by a candidate model: ``features`` (N, d) float, the
layer the new classifier would read; ``labels`` (N,) int in 0..C-1; and, for the scores that read
the pretrained task's predictions (``needs_logits``), ``source_logits`` (N, C_s). Higher is better
for every score (NCE and LEEP are log-likelihoods, <= 0).
"""
from __future__ import annotations

import numpy as np
from scipy.special import softmax

from dabench.transferability import SCORES


@SCORES.register("logme")
def logme(features: np.ndarray, labels: np.ndarray, source_logits=None, iterations: int = 11) -> float:
    """LogME (You et al., ICML 2021): the evidence of a Bayesian linear model from features to labels.

    The log maximum evidence per sample, averaged over the one-vs-rest classes. You, Liu, Wang, Long,
    ICML 2021, arXiv:2102.11005 (Algorithm 1).

    For each class c, targets y = 1[label = c]; the prior w ~ N(0, alpha^-1 I) and noise N(0, beta^-1) are
    fitted by the fixed-point updates gamma = sum_i beta s_i / (alpha + beta s_i), alpha = gamma / m'm,
    beta = (N - gamma) / ||y - F m||^2 (s_i: eigenvalues of F'F), and the evidence is
    N/2 log beta + D/2 log alpha - N/2 log 2 pi - beta/2 ||y - F m||^2 - alpha/2 m'm - 1/2 log|alpha I + beta F'F|.
    """
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    u, singular, vt = np.linalg.svd(f, full_matrices=False)
    s = singular ** 2  # eigenvalues of F'F on the row space; the other d - r are 0
    evidences = []
    for c in np.unique(labels):
        y = (labels == c).astype(np.float64)
        projected = u.T @ y  # y in the left singular basis
        alpha, beta = 1.0, 1.0
        for _ in range(iterations):
            weights = beta * singular * projected / (alpha + beta * s)  # m in the right singular basis
            gamma = (beta * s / (alpha + beta * s)).sum()
            residual = ((y - u @ (singular * weights)) ** 2).sum()
            alpha, beta = gamma / max((weights ** 2).sum(), 1e-12), (n - gamma) / max(residual, 1e-12)
        weights = beta * singular * projected / (alpha + beta * s)
        residual = ((y - u @ (singular * weights)) ** 2).sum()
        log_det = np.log(alpha + beta * s).sum() + (d - len(s)) * np.log(alpha)
        evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
                    - beta / 2 * residual - alpha / 2 * (weights ** 2).sum() - log_det / 2)
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def _joint(source_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(C, C_s) empirical joint P(y, z) = 1/N sum_i 1[y_i = y] theta_i(z)."""
    one_hot = np.eye(labels.max() + 1)[labels]
    return one_hot.T @ source_probs / len(labels)


@SCORES.register("leep", needs_logits=True)
def leep(features, labels: np.ndarray, source_logits: np.ndarray) -> float:
    """LEEP (Nguyen et al., ICML 2020): the labels' log-likelihood under the expected empirical predictor.

    The predictor is sum_z P(y | z) theta(x)_z, P(y | z) from the empirical joint of labels and the pretrained
    model's soft predictions theta. Nguyen, Hassner, Seeger, Archambeau, ICML 2020, arXiv:2002.12462 (Eq. 1-2)."""
    theta = softmax(np.asarray(source_logits, dtype=np.float64), axis=1)
    joint = _joint(theta, labels)
    conditional = joint / joint.sum(axis=0, keepdims=True).clip(1e-300)  # P(y | z)
    return float(np.mean(np.log((theta @ conditional.T)[np.arange(len(labels)), labels])))


@SCORES.register("nce", needs_logits=True)
def nce(features, labels: np.ndarray, source_logits: np.ndarray) -> float:
    """NCE (Tran et al., ICCV 2019): -H(Y | Z), the labels' conditional entropy given the source predictions.

    Z = argmax of the pretrained model's logits. Tran, Nguyen, Hassner, ICCV 2019, arXiv:1908.08142 (Eq. 2)."""
    z = np.asarray(source_logits).argmax(axis=1)
    joint = _joint(np.eye(np.asarray(source_logits).shape[1])[z], labels)
    p_z = joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log((joint / p_z.clip(1e-300))[nonzero])).sum())


@SCORES.register("hscore")
def hscore(features: np.ndarray, labels: np.ndarray, source_logits=None) -> float:
    """H-score (Bao et al., ICIP 2019): tr(cov(f)^+ cov(E[f | y])), how well the features separate the labels.

    Invariant to invertible affine maps of the features; at most C - 1, which it reaches whenever the samples are
    fewer than the feature dimensions. Bao et al., ICIP 2019 (Definition 2); pseudo-inverse for rank deficiency."""
    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=0)
    class_means = np.zeros_like(f)
    for c in np.unique(labels):
        class_means[labels == c] = f[labels == c].mean(axis=0)
    cov_f = f.T @ f / len(f)
    cov_g = class_means.T @ class_means / len(f)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10, hermitian=True) @ cov_g))


def coding_rate(z: np.ndarray, eps: float) -> float:
    """R(Z, eps) = 1/2 log det(I + d / (n eps^2) Z'Z) for (n, d) Z (Ma et al., TPAMI 2007; Yu et al., NeurIPS 2020)."""
    n, d = z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * eps ** 2) * z.T @ z)[1]


@SCORES.register("transrate")
def transrate(features: np.ndarray, labels: np.ndarray, source_logits=None, eps: float = 1.0) -> float:
    """TransRate (Huang et al., ICML 2022): the features' coding rate minus their rate given the labels.

    R(Z, eps) - sum_c n_c / n R(Z_c, eps) for the centred features Z (mutual information of features and labels
    under the rate-distortion view). Huang, Huang, Li, Tang, Huang, ICML 2022, arXiv:2106.09362 (Eq. 4-5). It is >= 0 (log det is concave);
    features are scaled to unit mean squared norm first, so eps is a distortion relative to that scale."""
    z = np.asarray(features, dtype=np.float64)
    z = z - z.mean(axis=0)
    z = z / np.sqrt((z ** 2).sum(axis=1).mean()).clip(1e-12)
    given = sum((labels == c).mean() * coding_rate(z[labels == c], eps) for c in np.unique(labels))
    return float(coding_rate(z, eps) - given)
