"""Label-free validators: how good a checkpoint looks without a target label.

Each validator is a function registered with its direction (``better="higher"`` or
``"lower"``) whose parameters name the splits it reads: ``target`` (unlabeled target train
predictions) and ``source_val`` (held-out labeled source predictions). The evaluator hands
each one exactly those splits; no validator can ask for the target test split. Every
evaluation records each validator as ``score/<name>``.

    @VALIDATORS.register("my_score", better="higher")
    def my_score(target: Predictions) -> float: ...

Deviations from the papers are said in each docstring.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dabench.errors import DabenchError
from dabench.losses.target import batch_nuclear_norm, entropy, information_maximization
from dabench.registry import Registry

VALIDATORS = Registry("validator", "dabench.selection")
# Above these sizes a validator scores a fixed random subset (seed 0): SND's similarity matrix
# is N x N, and DEV fits a classifier per evaluation.
SND_SAMPLES = 2048
DEV_TARGET_SAMPLES = 2048


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one evaluation's splits key a cache
class Predictions:
    """A model's eval-mode outputs on one split: logits (N, C) and features (N, d), float32 on the CPU."""

    logits: Tensor
    features: Tensor


@dataclass(frozen=True, eq=False)
class LabeledPredictions(Predictions):
    """Predictions with their labels (N,) int64: the held-out source validation split."""

    labels: Tensor


SPLITS = ("target", "source_val")


def reads(name: str) -> list[str]:
    """The splits validator `name` reads: its parameters without a default, each one of SPLITS."""
    needed = [p.name for p in inspect.signature(VALIDATORS.get(name)).parameters.values()
              if p.default is inspect.Parameter.empty]
    unknown = [split for split in needed if split not in SPLITS]
    if unknown:
        raise DabenchError(f"validator '{name}' asks for {', '.join(unknown)}; a validator reads only "
                           f"{' and '.join(SPLITS)} (target labels are for the oracle alone)")
    return needed


def score_all(splits: dict[str, Predictions]) -> dict[str, float]:
    """{"score/<name>": value} for every registered validator, each given only the splits it names;
    NaN for one whose split is absent (no source validation split when val_fraction is 0)."""
    usable = {split: p for split, p in splits.items()
              if torch.isfinite(p.logits).all() and torch.isfinite(p.features).all()}  # NaN outputs score NaN
    scores = {}
    for name in VALIDATORS.names():
        needed = reads(name)
        scores[f"score/{name}"] = (float(VALIDATORS.get(name)(**{split: usable[split] for split in needed}))
                                   if all(split in usable for split in needed) else float("nan"))
    return scores


def subset(n: int, k: int) -> Tensor:
    """Indices of a fixed random subset of min(n, k) of n samples (seed 0; no global RNG touched)."""
    if n <= k:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:k].sort().values


@VALIDATORS.register("entropy", better="lower")
def entropy_score(target: Predictions) -> float:
    """Mean prediction entropy on target, nats; lower is better.

    Morerio et al., ICLR 2018 (entropy as a label-free criterion); -1/N sum_i sum_c p_ic log p_ic.
    """
    return entropy(target.logits).item()


@VALIDATORS.register("im", better="higher")
def information_maximization_score(target: Predictions) -> float:
    """Information maximization, H(E_i[p_i]) - E_i[H(p_i)] on target, nats; higher is better.

    The mutual information between inputs and predicted classes (Krause et al., NeurIPS 2010;
    as a validator: Musgrave et al., "Benchmarking validation methods for UDA", 2022).
    """
    return -information_maximization(target.logits).item()


@VALIDATORS.register("bnm", better="higher")
def batch_nuclear_norm_score(target: Predictions) -> float:
    """Batch nuclear norm ||P||_* / N of the target softmax matrix P (N, C); higher is better.

    Cui et al., CVPR 2020, Eq. 9, computed over the whole target train split rather than a batch.
    """
    return -batch_nuclear_norm(target.logits).item()


@VALIDATORS.register("snd", better="higher")
def soft_neighborhood_density(target: Predictions, temperature: float = 0.05) -> float:
    """Soft neighborhood density (Saito et al., ICCV 2021, Eq. 1-3); higher is better.

    With f_i the L2-normalised softmax vector of target sample i, S_ij = f_i . f_j / temperature
    for j != i, P_i = softmax_j(S_ij), SND = -1/N sum_i sum_j P_ij log P_ij (nats). As in the
    paper, on softmax outputs with temperature 0.05. Deviation: above SND_SAMPLES target samples
    it scores a fixed random subset of that size (the matrix is N x N).
    """
    probs = F.normalize(target.logits[subset(len(target.logits), SND_SAMPLES)].double().softmax(dim=1), dim=1)
    similarity = probs @ probs.T / temperature
    similarity.fill_diagonal_(float("-inf"))  # a sample is not its own neighbour
    neighbours = similarity.softmax(dim=1)
    return -(neighbours * torch.log(neighbours.clamp_min(1e-300))).sum(dim=1).mean().item()


def importance_weights(p_target: np.ndarray, n_source: int, n_target: int) -> np.ndarray:
    """Density ratios w(x) = p_t(x) / p_s(x) from a domain classifier's P(target | x), (N,).

    Bayes' rule: p_t(x) / p_s(x) = [P(t|x) / P(s|x)] * (n_source / n_target), the sample counts
    the classifier was trained on (You et al., ICML 2019, Sec. 4.1).
    """
    p_target = np.clip(p_target, 1e-6, 1 - 1e-6)
    return p_target / (1 - p_target) * (n_source / n_target)


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Deep Embedded Validation's risk (You et al., ICML 2019, Algorithm 1), lower is better.

    With weighted losses L = w * l over the validation samples, the control variate
    eta = -Cov(L, w) / Var(w) and DEV = mean(L) + eta * mean(w) - eta: the importance-weighted
    risk with its variance reduced, using E[w] = 1.
    """
    if len(weights) < 2 or not np.isfinite(weights).all():  # no variance to estimate, or no weights
        return float("nan")
    weighted = weights * losses
    variance = np.var(weights, ddof=1)
    eta = -np.cov(weighted, weights, ddof=1)[0, 1] / variance if variance > 0 else 0.0
    return float(weighted.mean() + eta * weights.mean() - eta)


@functools.lru_cache(maxsize=1)  # DEV and IWCV of one evaluation share one fitted domain classifier
def validation_weights(source_val: Predictions, target: Predictions) -> np.ndarray:
    """w(x) (n_val,) for each source validation sample, from a logistic-regression domain classifier
    on features (scikit-learn, standardised features); NaN where there are fewer than 2 samples of
    either domain to cross-fit on.

    Deviation from DEV: the classifier is fitted on source-validation vs target-train features
    (target: a fixed subset of at most DEV_TARGET_SAMPLES) with 2-fold cross-fitting, so each
    validation sample is weighted by a classifier that never saw it; the paper fits on
    source-train features, which the evaluator does not hold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    source = source_val.features.double().numpy()
    target_features = target.features[subset(len(target.features), DEV_TARGET_SAMPLES)].double().numpy()
    if min(len(source), len(target_features)) < 2:
        return np.full(len(source), np.nan)
    x = np.concatenate([source, target_features])
    domain = np.concatenate([np.zeros(len(source)), np.ones(len(target_features))])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    p_target = cross_val_predict(classifier, x, domain, cv=folds, method="predict_proba")[:len(source), 1]
    return importance_weights(p_target, len(source), len(target_features))


def validation_losses(source_val: LabeledPredictions) -> np.ndarray:
    """Per-sample cross-entropy (n_val,) of the source validation predictions, nats."""
    return F.cross_entropy(source_val.logits.double(), source_val.labels, reduction="none").numpy()


@VALIDATORS.register("dev", better="lower")
def deep_embedded_validation(source_val: LabeledPredictions, target: Predictions) -> float:
    """DEV (You et al., ICML 2019): importance-weighted source validation loss, with a control variate.

    ``dev_risk`` of the per-sample losses and the weights of a domain classifier on features
    (``validation_weights``); lower is better."""
    return dev_risk(validation_losses(source_val), validation_weights(source_val, target))


@VALIDATORS.register("iwcv", better="lower")
def importance_weighted_validation(source_val: LabeledPredictions, target: Predictions) -> float:
    """IWCV (Sugiyama et al., JMLR 2007): importance-weighted source validation loss mean(w * l).

    The same weights as DEV without its control variate (so a higher variance); lower is better."""
    return float((validation_weights(source_val, target) * validation_losses(source_val)).mean())
