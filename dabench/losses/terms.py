"""Alignment terms: small modules with one signature, term(out_s, out_t, progress) -> scalar.

Methods combine them by name and weight; ``{name: align, terms: {mmd: 1.0, coral: 0.5}}``
composes any set without a new file. A term that owns parameters (the domain
discriminator) creates them in ``build`` once the feature dimension is known; a term whose
schedule is counted in iterations (a warm-start gradient reversal) reads the run length there.

Where a reference implementation differs from the paper (TLlib's warm-start reversal, its
BatchNorm discriminator, its CORAL, its linear-time MMD), the difference is a named option of
the term, off by default; configs/protocols/tllib.yaml turns them on.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from dabench.losses.adversarial import (
    DomainDiscriminator,
    RandomizedMultilinearMap,
    domain_adversarial_loss,
    entropy_weights,
    grad_reverse,
    margin_disparity_discrepancy,
    multilinear_map,
    reversal_coefficient,
)
from dabench.losses.discrepancy import batch_spectral_penalty, coral, jmmd, linear_mmd, mmd
from dabench.losses.target import (
    batch_nuclear_norm,
    entropy,
    information_maximization,
    minimum_class_confusion,
    stepwise_feature_norm,
)
from dabench.models.model import init_linear
from dabench.registry import Registry
from dabench.types import Outputs

ALIGNMENTS = Registry("alignment term", "dabench.losses")


class AlignmentTerm(nn.Module):
    """Base class. `progress` in [0, 1] is the fraction of training done (for schedules)."""

    def build(self, feature_dim: int, num_classes: int, steps: int) -> None:
        """Create parameters that depend on the model's dimensions (default: none); `steps` is the run length."""

    def forward(self, out_s: Outputs, out_t: Outputs, progress: float) -> Tensor:
        raise NotImplementedError


@ALIGNMENTS.register("mmd")
class MultiKernelMMD(AlignmentTerm):
    """MK-MMD^2 between source and target features (DAN, Long et al., ICML 2015, Eq. 3).

    ``estimator="biased"``: the quadratic-time V-statistic; ``"linear"``: TLlib's linear-time estimate.
    """

    def __init__(self, kernel_mul: float = 2.0, num_kernels: int = 5, estimator: Literal["biased", "linear"] = "biased"):
        super().__init__()
        self.kernel_mul, self.num_kernels, self.estimator = kernel_mul, num_kernels, estimator

    def forward(self, out_s, out_t, progress):
        estimate = linear_mmd if self.estimator == "linear" else mmd
        return estimate(out_s.features, out_t.features, self.kernel_mul, self.num_kernels)


@ALIGNMENTS.register("coral")
class CORAL(AlignmentTerm):
    """||C_s - C_t||_F^2 / (4 d^2) on features (Deep CORAL, Sun & Saenko, ECCV-W 2016, Eq. 1);
    ``form="tllib"``: TLlib's mean term + 4x that (see ``coral``)."""

    def __init__(self, form: Literal["paper", "tllib"] = "paper"):
        super().__init__()
        self.form = form

    def forward(self, out_s, out_t, progress):
        return coral(out_s.features, out_t.features, self.form)


@ALIGNMENTS.register("adversarial")
class DomainAdversarial(AlignmentTerm):
    """Domain classifier behind a gradient reversal layer (DANN, Ganin et al., JMLR 2016, Eq. 9-10).

    The reversal coefficient follows lambda_p = 2 / (1 + exp(-gamma p)) - 1 (Sec. 5.2.2), so the
    discriminator learns at full rate while the features receive -lambda_p times its gradient.
    `warm_start_iters` counts the ramp in iterations instead (``reversal_coefficient``);
    `discriminator` is "dropout" (paper) or "batchnorm" (TLlib).
    """

    def __init__(self, hidden: int = 1024, gamma: float = 10.0, warm_start_iters: int | None = None,
                 discriminator: Literal["dropout", "batchnorm"] = "dropout"):
        super().__init__()
        self.hidden, self.gamma, self.warm_start_iters, self.norm = hidden, gamma, warm_start_iters, discriminator

    def build(self, feature_dim, num_classes, steps):
        self.steps = steps
        self.discriminator = DomainDiscriminator(feature_dim, self.hidden, self.norm)

    def coefficient(self, progress: float) -> float:
        return reversal_coefficient(progress, self.steps, self.gamma, self.warm_start_iters)

    def forward(self, out_s, out_t, progress, source_weight: Tensor | None = None):
        """`source_weight`: optional (n,) weights of the source samples (PADA's class weights)."""
        features = torch.cat([out_s.features, out_t.features])
        logits = self.discriminator(grad_reverse(features, self.coefficient(progress)))
        n = len(out_s.features)
        weight = None if source_weight is None else torch.cat([source_weight, torch.ones_like(logits[n:, 0])])
        return domain_adversarial_loss(logits[:n], logits[n:], weight)


@ALIGNMENTS.register("entropy")
class TargetEntropy(AlignmentTerm):
    """Mean prediction entropy on the target batch (Grandvalet & Bengio, NeurIPS 2004)."""

    def forward(self, out_s, out_t, progress):
        return entropy(out_t.logits)


@ALIGNMENTS.register("jmmd")
class JointMMD(AlignmentTerm):
    """JMMD^2 of (features, softmax predictions) between domains (JAN, Long et al., ICML 2017, Eq. 10)."""

    def __init__(self, kernel_mul: float = 2.0, num_kernels: int = 5, prediction_sigma: float = 0.92):
        super().__init__()
        self.kernel_mul, self.num_kernels, self.prediction_sigma = kernel_mul, num_kernels, prediction_sigma

    def forward(self, out_s, out_t, progress):
        return jmmd([out_s.features, out_s.logits.softmax(dim=1)], [out_t.features, out_t.logits.softmax(dim=1)],
                    self.kernel_mul, self.num_kernels, self.prediction_sigma)


@ALIGNMENTS.register("conditional_adversarial")
class ConditionalAdversarial(DomainAdversarial):
    """CDAN's conditional domain discriminator (Long et al., NeurIPS 2018, Eq. 6-9).

    The discriminator sees f (x) g, g = softmax predictions (constants, as in the authors'
    code), behind a gradient reversal layer with DANN's schedule. When d * C exceeds
    `max_dim` (4096 in the paper) the randomized map of width `random_dim` replaces the
    multilinear one. `entropy_conditioning` (CDAN+E) weights samples by 1 + exp(-H(g)).
    `warm_start_iters` and `discriminator` as in ``DomainAdversarial``.
    """

    def __init__(self, hidden: int = 1024, gamma: float = 10.0, entropy_conditioning: bool = False,
                 max_dim: int = 4096, random_dim: int = 1024, warm_start_iters: int | None = None,
                 discriminator: Literal["dropout", "batchnorm"] = "dropout"):
        super().__init__(hidden, gamma, warm_start_iters, discriminator)
        self.entropy_conditioning, self.max_dim, self.random_dim = entropy_conditioning, max_dim, random_dim

    def build(self, feature_dim, num_classes, steps):
        self.randomized = feature_dim * num_classes > self.max_dim
        if self.randomized:
            self.random_map = RandomizedMultilinearMap(feature_dim, num_classes, self.random_dim)
        super().build(self.random_dim if self.randomized else feature_dim * num_classes, num_classes, steps)

    def forward(self, out_s, out_t, progress):
        features = torch.cat([out_s.features, out_t.features])
        probs = torch.cat([out_s.logits, out_t.logits]).softmax(dim=1).detach()
        joint = self.random_map(features, probs) if self.randomized else multilinear_map(features, probs)
        logits = self.discriminator(grad_reverse(joint, self.coefficient(progress)))
        weight = entropy_weights(probs.float()) if self.entropy_conditioning else None
        n = len(out_s.features)
        return domain_adversarial_loss(logits[:n], logits[n:], weight)


@ALIGNMENTS.register("margin_disparity")
class MarginDisparity(AlignmentTerm):
    """MDD (Zhang et al., ICML 2019): an adversarial classifier head f' behind gradient reversal.

    The head (Linear-ReLU-Dropout-Linear, width `width`) minimises
    ``margin_disparity_discrepancy``; the reversal coefficient is grl_max * lambda_p, with
    lambda_p DANN's schedule (0.1 as in the authors' code), or TLlib's warm start with
    `warm_start_iters` (``reversal_coefficient``). `init`: "pytorch" (PyTorch's default), or
    "mdd", the MDD code's N(0, 0.01) weights and zero biases.
    """

    def __init__(self, margin: float = 4.0, width: int = 1024, grl_max: float = 0.1, gamma: float = 10.0,
                 warm_start_iters: int | None = None, init: Literal["pytorch", "mdd"] = "pytorch"):
        super().__init__()
        self.margin, self.width, self.grl_max, self.gamma = margin, width, grl_max, gamma
        self.warm_start_iters, self.init = warm_start_iters, init

    def build(self, feature_dim, num_classes, steps):
        self.steps = steps
        self.adversarial_head = nn.Sequential(nn.Linear(feature_dim, self.width), nn.ReLU(), nn.Dropout(0.5),
                                              nn.Linear(self.width, num_classes))
        if self.init == "mdd":
            init_linear(self.adversarial_head[0], std=0.01)
            init_linear(self.adversarial_head[3], std=0.01)

    def forward(self, out_s, out_t, progress):
        features = torch.cat([out_s.features, out_t.features])
        coefficient = reversal_coefficient(progress, self.steps, self.gamma, self.warm_start_iters, self.grl_max)
        adv = self.adversarial_head(grad_reverse(features, coefficient))
        n = len(out_s.features)
        return margin_disparity_discrepancy(adv[:n], adv[n:], out_s.logits.argmax(1).detach(),
                                            out_t.logits.argmax(1).detach(), self.margin)


@ALIGNMENTS.register("spectral_penalty")
class BatchSpectralPenalty(AlignmentTerm):
    """BSP: the k largest squared singular values of each domain's feature batch (Chen et al., ICML 2019)."""

    def __init__(self, k: int = 1):
        super().__init__()
        self.k = k

    def forward(self, out_s, out_t, progress):
        return batch_spectral_penalty(out_s.features, out_t.features, self.k)


@ALIGNMENTS.register("feature_norm")
class StepwiseFeatureNorm(AlignmentTerm):
    """SAFN: grow every feature norm by delta_r per step, on both domains (Xu et al., ICCV 2019)."""

    def __init__(self, delta_r: float = 1.0):
        super().__init__()
        self.delta_r = delta_r

    def forward(self, out_s, out_t, progress):
        return stepwise_feature_norm(out_s.features, self.delta_r) + stepwise_feature_norm(out_t.features, self.delta_r)


@ALIGNMENTS.register("class_confusion")
class MinimumClassConfusion(AlignmentTerm):
    """MCC on the target batch (Jin et al., ECCV 2020)."""

    def __init__(self, temperature: float = 2.5):
        super().__init__()
        self.temperature = temperature

    def forward(self, out_s, out_t, progress):
        return minimum_class_confusion(out_t.logits, self.temperature)


@ALIGNMENTS.register("nuclear_norm")
class BatchNuclearNorm(AlignmentTerm):
    """BNM on the target batch: -||softmax||_* / N (Cui et al., CVPR 2020)."""

    def forward(self, out_s, out_t, progress):
        return batch_nuclear_norm(out_t.logits)


@ALIGNMENTS.register("information_maximization")
class InformationMaximization(AlignmentTerm):
    """Target entropy minus the entropy of the mean target prediction (Krause et al. 2010; SHOT)."""

    def __init__(self, diversity_weight: float = 1.0):
        super().__init__()
        self.diversity_weight = diversity_weight

    def forward(self, out_s, out_t, progress):
        return information_maximization(out_t.logits, self.diversity_weight)
