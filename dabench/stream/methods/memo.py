"""MEMO: Test Time Robustness via Adaptation and Augmentation. Zhang, Levine & Finn, NeurIPS 2022,
arXiv:2110.09506.

Each test input alone, before it is predicted: `augmentations` (32, the paper's CIFAR-10 setting)
AugMix views of it (Hendrycks et al., ICLR 2020; torchvision's `v2.AugMix` at its defaults: severity 3,
width 3, random depth; applied in each channel's own pixel range) are passed through the model; the loss is the entropy of their marginal, the
mean of the views' softmax (Eq. 1); one SGD step on every weight (lr 0.005, the paper's CIFAR-10
ResNet-26 rate); the input is then predicted by the adapted model, and the model returns to the
source before the next input. MEMO is episodic by design: it keeps nothing between inputs.
Batch norm uses the paper's single-point adaptation (Schneider et al. 2020): the source statistics
mixed with the statistics of the batch being normalised (the views, or the input itself) with weight
N / (N + 1) on the source, `prior_strength` N = 16.
Updates every weight, for one input at a time; keeps nothing.
"""
import torch
from torch import Tensor, optim

from dabench.stream.base import STREAM_METHODS, require_images
from dabench.stream.methods.bn_adapt import BNAdapt


def marginal_entropy(logits: Tensor) -> Tensor:
    """(B, C) logits of B views of one input -> the entropy (nats) of their mean softmax, a scalar."""
    log_marginal = logits.log_softmax(1).logsumexp(0) - torch.log(torch.tensor(float(len(logits))))
    return -(log_marginal.exp() * log_marginal).sum()


@STREAM_METHODS.register("memo")
class MEMO(BNAdapt):
    """Marginal entropy over augmentations of each input, one step, predict, reset."""

    updates = "every weight, for one input at a time (reset before the next)"
    keeps = "nothing (episodic by design)"
    episodic_by_design = True

    def __init__(self, lr: float = 0.005, augmentations: int = 32, prior_strength: float = 16.0):
        super().__init__(source_weight=prior_strength / (prior_strength + 1))
        self.lr, self.augmentations = lr, augmentations

    def prepare(self):
        super().prepare()
        self.model.requires_grad_(True)
        self.optimizer = optim.SGD(self.model.parameters(), lr=self.lr)

    def views(self, x: Tensor) -> Tensor:
        """(C, H, W) image -> (augmentations, C, H, W) independent AugMix views. AugMix works on [0, 1] pixels and
        inputs come normalised (to [-1, 1], or by ImageNet's per-channel statistics): each channel is mapped from
        its own min-max range to [0, 1] and back."""
        from torchvision.transforms import v2

        low = x.amin(dim=(1, 2), keepdim=True)
        span = (x.amax(dim=(1, 2), keepdim=True) - low).clamp_min(1e-8)
        augmix = v2.AugMix()
        unit = (x - low) / span
        return torch.stack([augmix(unit) for _ in range(self.augmentations)]) * span + low

    def adapt(self, x):
        require_images(x, "memo", "MEMO adapts on AugMix views of images")
        answers = []
        for image in x:
            loss = marginal_entropy(self.model(self.views(image)).logits)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():
                answers.append(self.model(image[None]).logits[0])
            self.reset()
        return torch.stack(answers)
