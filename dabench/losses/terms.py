"""Alignment terms: small modules with one signature, term(out_s, out_t, progress) -> scalar.

Methods combine them by name and weight; ``{name: align, terms: {mmd: 1.0, coral: 0.5}}``
composes any set without a new file. A term that owns parameters (the domain
discriminator) creates them in ``build`` once the feature dimension is known.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from dabench.losses.adversarial import DomainDiscriminator, dann_coefficient, domain_adversarial_loss, grad_reverse
from dabench.losses.discrepancy import coral, mmd
from dabench.losses.target import entropy
from dabench.registry import Registry
from dabench.types import Outputs

ALIGNMENTS = Registry("alignment term", "dabench.losses")


class AlignmentTerm(nn.Module):
    """Base class. `progress` in [0, 1] is the fraction of training done (for schedules)."""

    def build(self, feature_dim: int, num_classes: int) -> None:
        """Create parameters that depend on the model's dimensions (default: none)."""

    def forward(self, out_s: Outputs, out_t: Outputs, progress: float) -> Tensor:
        raise NotImplementedError


@ALIGNMENTS.register("mmd")
class MultiKernelMMD(AlignmentTerm):
    """MK-MMD^2 between source and target features (DAN, Long et al., ICML 2015, Eq. 3)."""

    def __init__(self, kernel_mul: float = 2.0, num_kernels: int = 5):
        super().__init__()
        self.kernel_mul, self.num_kernels = kernel_mul, num_kernels

    def forward(self, out_s, out_t, progress):
        return mmd(out_s.features, out_t.features, self.kernel_mul, self.num_kernels)


@ALIGNMENTS.register("coral")
class CORAL(AlignmentTerm):
    """||C_s - C_t||_F^2 / (4 d^2) on features (Deep CORAL, Sun & Saenko, ECCV-W 2016, Eq. 1)."""

    def forward(self, out_s, out_t, progress):
        return coral(out_s.features, out_t.features)


@ALIGNMENTS.register("adversarial")
class DomainAdversarial(AlignmentTerm):
    """Domain classifier behind a gradient reversal layer (DANN, Ganin et al., JMLR 2016, Eq. 9-10).

    The reversal coefficient follows lambda_p = 2 / (1 + exp(-gamma p)) - 1 (Sec. 5.2.2), so the
    discriminator learns at full rate while the features receive -lambda_p times its gradient.
    """

    def __init__(self, hidden: int = 1024, gamma: float = 10.0):
        super().__init__()
        self.hidden, self.gamma = hidden, gamma

    def build(self, feature_dim, num_classes):
        self.discriminator = DomainDiscriminator(feature_dim, self.hidden)

    def forward(self, out_s, out_t, progress):
        features = torch.cat([out_s.features, out_t.features])
        logits = self.discriminator(grad_reverse(features, dann_coefficient(progress, self.gamma)))
        n = len(out_s.features)
        return domain_adversarial_loss(logits[:n], logits[n:])


@ALIGNMENTS.register("entropy")
class TargetEntropy(AlignmentTerm):
    """Mean prediction entropy on the target batch (Grandvalet & Bengio, NeurIPS 2004)."""

    def forward(self, out_s, out_t, progress):
        return entropy(out_t.logits)
