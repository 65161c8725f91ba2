"""SAR: Sharpness-Aware and Reliable entropy minimization. Niu et al., "Towards Stable Test-Time Adaptation in
Dynamic Wild World", ICLR 2023, arXiv:2302.12400.

On each batch: samples whose entropy E < E0 = `entropy_margin` * ln C (0.4) are kept; a SAM step
(Foret et al., ICLR 2021) on the normalisation layers' affine parameters minimises their mean
entropy: the weights move by rho * g / ||g|| (rho 0.05) along the gradient g of that loss, the
gradient is taken again there on the samples still below E0, and the SGD step (lr 0.00025,
momentum 0.9, the paper's ImageNet setting) is taken from the original weights with it (Eq. 3-5).
Model recovery: a moving average of that second loss, e <- 0.9 e + 0.1 loss, resets the method to
the source model when it falls below `reset_constant` (0.2), a sign of collapse (Sec. 4). The
scored predictions are those of the first forward pass. Unlike the paper's ResNet runs, every
batch-norm layer adapts (the authors freeze the last ResNet stage); a batch with no kept sample
takes no step. Updates the batch-norm affine parameters; keeps them, SGD momentum and e.
"""
import math

import torch

from dabench.losses.target import logit_entropies
from dabench.stream.base import STREAM_METHODS
from dabench.stream.methods.tent import TENT


@STREAM_METHODS.register("sar")
class SAR(TENT):
    """Reliable-sample entropy minimisation with a sharpness-aware step, and a reset on collapse."""

    keeps = "the adapted affine parameters, SGD momentum and the loss's moving average (reset below the constant)"
    kept_attributes = ("loss_average",)

    def __init__(self, lr: float = 0.00025, momentum: float = 0.9, entropy_margin: float = 0.4, rho: float = 0.05,
                 reset_constant: float = 0.2):
        super().__init__(lr, momentum)
        self.entropy_margin, self.rho, self.reset_constant = entropy_margin, rho, reset_constant
        self.loss_average = None

    def adapt(self, x):
        logits = self.model(x).logits
        margin = self.entropy_margin * math.log(logits.shape[1])
        keep = logit_entropies(logits) < margin
        if not keep.any():
            return logits.detach()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.optimizer.zero_grad(set_to_none=True)
        logit_entropies(logits)[keep].mean().backward()
        norm = torch.stack([p.grad.norm() for p in params if p.grad is not None]).norm()
        with torch.no_grad():
            steps = [p.grad * (self.rho / (norm + 1e-12)) if p.grad is not None else torch.zeros_like(p)
                     for p in params]
            for p, step in zip(params, steps):
                p.add_(step)  # to the worst point of the rho-ball
        self.optimizer.zero_grad(set_to_none=True)
        entropies = logit_entropies(self.model(x).logits)[keep]  # the whole batch's statistics, as the first pass
        still = entropies < margin
        if still.any():
            loss = entropies[still].mean()
            loss.backward()
        with torch.no_grad():
            for p, step in zip(params, steps):
                p.sub_(step)  # back to the weights the step starts from
        if still.any():
            self.optimizer.step()
            value = loss.item()
            self.loss_average = value if self.loss_average is None else 0.9 * self.loss_average + 0.1 * value
            if self.loss_average < self.reset_constant:
                self.reset()
        return logits.detach()
