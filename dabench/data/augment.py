"""Augmentations for self-training (FixMatch's weak and strong views), for images and speech.

dabench images are float tensors (N, C, H, W) in [-1, 1]. torchvision's v2 transforms draw
one set of random parameters per call, so each sample is transformed on its own; they use
torch's global RNG, which the trainer checkpoints, so augmented runs stay reproducible.

Speech inputs are waveforms (N, 1, samples); their views are batched tensor operations on the
inputs' device (random shift; SpecAugment-style time and frequency masks), drawing from the
same global RNGs.
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
    augmented = per_sample(lambda image: cutout(rand_augment(image)), as_uint8)  # on the images' device
    return (augmented.float() / 127.5 - 1).to(images.dtype)


def _uniform(n: int, high: Tensor | float, device) -> Tensor:
    """(n, 1) floats uniform in [0, high)."""
    return torch.rand(n, 1, device=device) * high


def time_shift(waves: Tensor, max_shift: float = 0.1) -> Tensor:
    """Each clip of (N, 1, L) shifted by a random whole number of samples in [-max_shift * L,
    max_shift * L], zero-filled: the weak view of a spoken word, which keeps its label."""
    n, length = waves.shape[0], waves.shape[-1]
    limit = int(max_shift * length)
    shift = torch.randint(-limit, limit + 1, (n, 1), device=waves.device)
    source = torch.arange(length, device=waves.device) - shift  # output sample t reads input t - shift
    valid = (source >= 0) & (source < length)
    shifted = waves.flatten(1).gather(1, source.clamp(0, length - 1))
    return (shifted * valid).view_as(waves)


def spec_augment(waves: Tensor, time_masks: int = 2, time_width: float = 0.1, freq_masks: int = 2,
                 freq_width: float = 0.15, sample_rate: int = 16_000) -> Tensor:
    """SpecAugment's masking (Park et al., Interspeech 2019, without time warping), applied to
    (N, 1, L) waveforms so that it fits any speech backbone: `time_masks` spans of up to
    `time_width` of the clip are zeroed, and `freq_masks` bands of up to `freq_width` of the mel
    scale (HTK formula, 0 to sample_rate / 2) are removed from the clip's spectrum (its real FFT)."""
    n, length = waves.shape[0], waves.shape[-1]
    device = waves.device
    flat = waves.flatten(1)
    position = torch.arange(length, device=device)
    for _ in range(time_masks):
        width = _uniform(n, time_width * length, device)
        start = _uniform(n, 1, device) * (length - width)
        flat = flat * ~((position >= start) & (position < start + width))
    spectrum = torch.fft.rfft(flat.float())
    hz = torch.fft.rfftfreq(length, 1 / sample_rate, device=device)
    mel = torch.log10(1 + hz / 700)
    mel = mel / mel[-1]  # 0 at DC, 1 at the Nyquist frequency
    for _ in range(freq_masks):
        width = _uniform(n, freq_width, device)
        start = _uniform(n, 1, device) * (1 - width)
        spectrum = spectrum * ~((mel >= start) & (mel < start + width))
    return torch.fft.irfft(spectrum, n=length).to(waves.dtype).view_as(waves)
