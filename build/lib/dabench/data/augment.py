"""Per-sample image augmentations for self-training (FixMatch's weak and strong views).

dabench images are float tensors (N, C, H, W) in [-1, 1]. torchvision's v2 transforms draw
one set of random parameters per call, so each sample is transformed on its own; they use
torch's global RNG, which the trainer checkpoints, so augmented runs stay reproducible.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.transforms import v2


def per_sample(transform, images: Tensor) -> Tensor:
    return torch.stack([transform(image) for image in images])


def weak_augment(images: Tensor, translate: float = 0.125, flip: bool = False) -> Tensor:
    """Random translation by up to `translate` of the side (and a horizontal flip with p=0.5
    if `flip`), FixMatch's weak augmentation (Sohn et al., NeurIPS 2020, Sec. 2.3)."""
    steps = [v2.RandomAffine(degrees=0.0, translate=(translate, translate), fill=-1.0)]
    if flip:
        steps.insert(0, v2.RandomHorizontalFlip())
    return per_sample(v2.Compose(steps), images)


def strong_augment(images: Tensor, num_ops: int = 2, magnitude: int = 10) -> Tensor:
    """RandAugment (Cubuk et al. 2020; `num_ops` random operations at `magnitude` of 30),
    then Cutout of a random square of up to half the side, FixMatch's strong augmentation."""
    rand_augment = v2.RandAugment(num_ops=num_ops, magnitude=magnitude)
    cutout = v2.RandomErasing(p=1.0, scale=(0.02, 0.25), ratio=(1.0, 1.0), value=0)
    as_uint8 = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    augmented = per_sample(lambda image: cutout(rand_augment(image)), as_uint8.cpu())
    return (augmented.to(images.device).float() / 127.5 - 1).to(images.dtype)
