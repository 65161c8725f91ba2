"""FixMatch-style self-training on target. Sohn et al., NeurIPS 2020, arXiv:2001.07685.

L = CE(weak(x_s)) + trade_off * mean_i 1[max p_weak_i >= threshold] CE(strong(x_t)_i, argmax p_weak_i):
confident predictions on a weakly augmented target view (translation) become hard labels for
a strongly augmented view (RandAugment + Cutout). Defaults from the paper: threshold 0.95,
trade_off 1. Images (N, C, H, W), as the dataset normalises them; for speech waveforms (N, 1,
samples) the weak view is a random time shift and the strong one SpecAugment-style masks on top
of it (dabench.data.augment).
"""
import torch
import torch.nn.functional as F

from dabench.data.augment import NUM_MAGNITUDE_BINS, spec_augment, strong_augment, time_shift, weak_augment
from dabench.data.files import pixel_mean_std
from dabench.errors import DabenchError
from dabench.losses.target import confident_pseudo_label_loss
from dabench.methods.base import METHODS, Method


@METHODS.register("fixmatch")
class FixMatch(Method):
    def __init__(self, trade_off: float = 1.0, threshold: float = 0.95, translate: float = 0.125,
                 flip: bool = False, num_ops: int = 2, magnitude: int = 10):
        super().__init__()
        if not 0 <= magnitude < NUM_MAGNITUDE_BINS:
            raise DabenchError(f"fixmatch: magnitude {magnitude} is outside RandAugment's scale; give 0 to "
                               f"{NUM_MAGNITUDE_BINS - 1} (the default: 10)")
        self.trade_off, self.threshold, self.translate, self.flip = trade_off, threshold, translate, flip
        self.num_ops, self.magnitude = num_ops, magnitude

    def begin(self, source, target_inputs):
        shape = tuple(target_inputs.shape[1:])
        self.speech = len(shape) == 2 and shape[0] == 1
        if len(shape) != 3 and not self.speech:
            raise DabenchError(f"fixmatch augments images (C, H, W) or waveforms (1, samples); this dataset's inputs "
                               f"have shape {shape}; use another method for feature vectors")
        self.mean_std = None if self.speech else pixel_mean_std(target_inputs)

    def weak(self, x):
        return time_shift(x) if self.speech else weak_augment(x, self.translate, self.flip, *self.mean_std)

    def strong(self, x):
        if self.speech:
            return spec_augment(time_shift(x))
        return strong_augment(x, self.num_ops, self.magnitude, *self.mean_std)

    def loss(self, s, t, progress):
        x = torch.cat([self.weak(s.x), self.weak(t.x), self.strong(t.x)])
        logits = self.model(x).logits
        n, m = len(s.x), len(t.x)
        pseudo, _ = confident_pseudo_label_loss(logits[n:n + m], logits[n + m:], self.threshold)
        return {"cls": F.cross_entropy(logits[:n], s.y), "pseudo": self.trade_off * pseudo}
