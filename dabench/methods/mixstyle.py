"""MixStyle: Domain Generalization with MixStyle. Zhou, Yang, Qiao & Xiang, ICLR 2021, arXiv:2104.02008.

Domain generalization (``unseen_target``; also a plain style augmentation with one source). After
the named backbone layers, with probability p per batch, each sample's feature statistics (the
per-channel mean and standard deviation over H x W) are mixed with those of another sample of
the batch, a random permutation, so that the network sees new "styles" (Eq. 3-4):

  out = sigma_mix * (x - mu) / sigma + mu_mix,   mu_mix = lam mu + (1 - lam) mu[perm],
  sigma_mix likewise,   lam ~ Beta(alpha, alpha) per sample; mu and sigma without gradient.

The loss is plain cross-entropy. Only in training; evaluation sees the layers unchanged.
Defaults from the paper: p 0.5, alpha 0.1, after ResNet's layer1-3 (``layers``; for LeNet, its
first conv block, ``["2"]``, the ReLU after it).
"""
import torch
import torch.nn.functional as F

from dabench.methods.base import METHODS, Method
from dabench.models.model import backbone_layer


def mix_styles(x, lam, perm, eps: float = 1e-6):
    """MixStyle of a (N, C, H, W) batch with weights lam (N,) and partner indices perm (N,)."""
    mu = x.mean(dim=(2, 3), keepdim=True).detach()
    sigma = (x.var(dim=(2, 3), keepdim=True) + eps).sqrt().detach()
    lam = lam.view(-1, 1, 1, 1).to(x.dtype)
    mu_mix = lam * mu + (1 - lam) * mu[perm]
    sigma_mix = lam * sigma + (1 - lam) * sigma[perm]
    return (x - mu) / sigma * sigma_mix + mu_mix


@METHODS.register("mixstyle")
class MixStyle(Method):
    uses_target = False

    def __init__(self, p: float = 0.5, alpha: float = 0.1, layers: list[str] = ("layer1", "layer2", "layer3")):
        super().__init__()
        self.p, self.alpha, self.layers = p, alpha, list(layers)

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        for name in self.layers:
            backbone_layer(model.backbone, name, "method.layers").register_forward_hook(self.mix)

    def mix(self, module, inputs, output):
        if not (self.training and output.dim() == 4 and len(output) > 1) or torch.rand(()) > self.p:
            return output
        # Drawn on the features' device: a draw copied from the host would wait for the GPU, twice per layer.
        alpha = torch.full((), self.alpha, device=output.device)
        lam = torch.distributions.Beta(alpha, alpha).sample((len(output),))
        return mix_styles(output, lam, torch.randperm(len(output), device=output.device))

    def loss(self, s, t, progress):
        return {"cls": F.cross_entropy(self.model(s.x).logits, s.y)}
