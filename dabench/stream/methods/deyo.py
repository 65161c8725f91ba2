"""DeYO: Destroy Your Object. Lee et al., "Entropy is not Enough for Test-Time Adaptation: From the Perspective of
Disentangled Factors", ICLR 2024, arXiv:2403.07366.

TENT's update on the samples whose prediction rests on the object's shape, not on local texture:
the input is destroyed by shuffling its `patches` x `patches` grid (4 x 4; each sample its own
permutation), and the pseudo-label probability difference PLPD = p(y|x) - p(y|x'), y = argmax p(.|x),
measures how much the prediction needed the shape (Eq. 5). A sample counts if its entropy
E < `entropy_margin` * ln C (0.5) and its PLPD > `plpd_threshold` (0.2, the ImageNet-C setting); its
entropy is weighted by exp(-(E - E0)) + exp(PLPD), E0 = `weight_margin` * ln C (0.4), weights not
differentiated (Eq. 6-7). One SGD step (lr 0.00025, momentum 0.9, the paper's ImageNet setting) on the
batch-norm scales and shifts; batch norm uses each batch's statistics (the shuffled batch its own). A
batch with no counted sample takes no step. The scored predictions are those of the first pass.
Updates the batch-norm affine parameters; keeps them and SGD momentum.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dabench.losses.target import logit_entropies
from dabench.stream.base import STREAM_METHODS, require_images
from dabench.stream.methods.tent import TENT


def shuffle_patches(x: Tensor, patches: int) -> Tensor:
    """(N, C, H, W) images -> each with its patches x patches grid of tiles in a random order (images whose
    sides are not multiples of `patches` are resized to the nearest smaller multiple and back)."""
    n, c, h, w = x.shape
    ph, pw = h // patches, w // patches
    tiled = x if (ph * patches, pw * patches) == (h, w) else F.interpolate(x, (ph * patches, pw * patches),
                                                                             mode="bilinear", antialias=True)
    tiles = tiled.reshape(n, c, patches, ph, patches, pw).permute(0, 2, 4, 1, 3, 5).reshape(n, patches ** 2, c, ph, pw)
    order = torch.rand(n, patches ** 2).argsort(1)
    tiles = tiles[torch.arange(n)[:, None], order]
    shuffled = tiles.reshape(n, patches, patches, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, ph * patches,
                                                                                                pw * patches)
    return shuffled if shuffled.shape[-2:] == (h, w) else F.interpolate(shuffled, (h, w), mode="bilinear",
                                                                         antialias=True)


@STREAM_METHODS.register("deyo")
class DeYO(TENT):
    """Entropy minimisation on confident samples whose prediction a patch shuffle destroys."""

    def __init__(self, lr: float = 0.00025, momentum: float = 0.9, entropy_margin: float = 0.5,
                 weight_margin: float = 0.4, plpd_threshold: float = 0.2, patches: int = 4):
        super().__init__(lr, momentum)
        self.entropy_margin, self.weight_margin = entropy_margin, weight_margin
        self.plpd_threshold, self.patches = plpd_threshold, patches

    def adapt(self, x):
        require_images(x, "deyo", "DeYO shuffles image patches")
        logits = self.model(x).logits
        log_c = math.log(logits.shape[1])
        entropies = logit_entropies(logits)
        confident = entropies < self.entropy_margin * log_c
        if not confident.any():
            return logits.detach()
        with torch.no_grad():
            probs = logits[confident].softmax(1)
            labels = probs.argmax(1, keepdim=True)
            destroyed = self.model(shuffle_patches(x[confident], self.patches)).logits.softmax(1)
            plpd = (probs.gather(1, labels) - destroyed.gather(1, labels)).squeeze(1)
        keep = plpd > self.plpd_threshold
        if keep.any():
            selected = entropies[confident][keep]
            weights = torch.exp(-(selected.detach() - self.weight_margin * log_c)) + torch.exp(plpd[keep])
            self.optimizer.zero_grad(set_to_none=True)
            (selected * weights).mean().backward()
            self.optimizer.step()
        return logits.detach()
