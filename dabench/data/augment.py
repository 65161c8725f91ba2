"""Augmentations for self-training (FixMatch's weak and strong views), for images and speech.

All views are batched tensor operations on the inputs' device: every random draw is made there
(torch's global RNGs, which the trainer checkpoints, so augmented runs stay reproducible), so a
step neither waits for the GPU nor runs one transform per sample.

Images are normalised float tensors (N, C, H, W); `mean` and `std` (per channel, on pixels in
[0, 1]; dabench.data.files.pixel_mean_std) say how, the default being the [-1, 1] of the tensor
image datasets. The image views draw their parameters from the distributions of torchvision's
per-image transforms (RandomHorizontalFlip, RandomAffine's translation, RandAugment and
RandomErasing as FixMatch uses them), and given those parameters give the same pixels: the tests
compare both, parameter by parameter and in distribution.

Speech inputs are waveforms (N, 1, samples); their views are a random shift and SpecAugment-style
time and frequency masks.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from dabench.data.files import UNIT  # the tensor image datasets' [-1, 1]

NUM_MAGNITUDE_BINS = 31  # RandAugment's magnitude scale, as in torchvision
GEOMETRIC = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
PHOTOMETRIC = ("Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")
RAND_AUGMENT_OPS = GEOMETRIC + PHOTOMETRIC  # torchvision's RandAugment space, in its order
SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness"}


def _per_channel(values: tuple[float, ...], images: Tensor) -> Tensor:
    """(C, 1, 1) float32 on the images' device (a 1-value tuple serves any channel count)."""
    return _column(tuple(values), images.device)


@lru_cache(maxsize=16)
def _column(values: tuple[float, ...], device: torch.device) -> Tensor:
    column = torch.tensor(values, dtype=torch.float32).view(-1, 1, 1)
    return column.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else column


def to_pixels(images: Tensor, mean: tuple = UNIT[0], std: tuple = UNIT[1]) -> Tensor:
    """Normalised float images (N, C, H, W) -> uint8 pixels."""
    pixels = (images.float() * _per_channel(std, images) + _per_channel(mean, images)) * 255
    return pixels.round().clamp(0, 255).to(torch.uint8)


def from_pixels(pixels: Tensor, dtype: torch.dtype, mean: tuple = UNIT[0], std: tuple = UNIT[1]) -> Tensor:
    """uint8 pixels (N, C, H, W) -> normalised float images of `dtype`."""
    return ((pixels.float() / 255 - _per_channel(mean, pixels)) / _per_channel(std, pixels)).to(dtype)


def translate(images: Tensor, shift_x: Tensor, shift_y: Tensor, fill: Tensor | float) -> Tensor:
    """Each image of (N, C, H, W) moved right by shift_x[i] and down by shift_y[i] whole pixels (int
    tensors (N,)), the uncovered part set to `fill`: torchvision's affine with that translation."""
    n, c, h, w = images.shape
    rows = torch.arange(h, device=images.device) - shift_y[:, None]  # output row r reads input row r - shift
    cols = torch.arange(w, device=images.device) - shift_x[:, None]
    inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
    moved = images.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w))
    moved = moved.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w))
    return torch.where(inside, moved, fill)


def weak_augment(images: Tensor, translate_by: float = 0.125, flip: bool = False, mean: tuple = UNIT[0],
                 std: tuple = UNIT[1]) -> Tensor:
    """A horizontal flip with p=0.5 if `flip`, then a random translation by up to `translate_by` of the side,
    black where uncovered: FixMatch's weak augmentation (Sohn et al., NeurIPS 2020, Sec. 2.3), drawn
    like torchvision's RandomHorizontalFlip and RandomAffine(translate=(t, t)): round(U(-t W, t W)) pixels."""
    n, _, h, w = images.shape
    if flip:
        images = torch.where(torch.rand(n, 1, 1, 1, device=images.device) < 0.5, images.flip(-1), images)
    shift_x = ((torch.rand(n, device=images.device) * 2 - 1) * (translate_by * w)).round().long()
    shift_y = ((torch.rand(n, device=images.device) * 2 - 1) * (translate_by * h)).round().long()
    black = (-_per_channel(mean, images) / _per_channel(std, images)).to(images.dtype)
    return translate(images, shift_x, shift_y, black)


@lru_cache(maxsize=None)
def magnitude_of(op: str, magnitude: int, height: int, width: int) -> float:
    """torchvision RandAugment's value of `op` at `magnitude` (of NUM_MAGNITUDE_BINS), before its sign; the
    enhance ops (Brightness, Color, Contrast, Sharpness) go from 0 to 0.9, and ops without a value ignore it."""
    bins = NUM_MAGNITUDE_BINS
    scales = {"ShearX": torch.linspace(0.0, 0.3, bins), "ShearY": torch.linspace(0.0, 0.3, bins),
              "TranslateX": torch.linspace(0.0, 150.0 / 331.0 * width, bins),
              "TranslateY": torch.linspace(0.0, 150.0 / 331.0 * height, bins),
              "Rotate": torch.linspace(0.0, 30.0, bins), "Solarize": torch.linspace(1.0, 0.0, bins),
              "Posterize": 8 - (torch.arange(bins) / ((bins - 1) / 4)).round()}
    return float(scales.get(op, torch.linspace(0.0, 0.9, bins))[magnitude])


def inverse_matrix(op: str, value: float, height: int, width: int) -> list[list[float]]:
    """2x3 map from output to input pixel coordinates (origin at the image centre, y down) of a
    geometric RandAugment op with signed `value`, as torchvision defines it: shears about the top-left
    corner, translations by int(value) pixels, rotations by `value` degrees counter-clockwise."""
    if op == "ShearX":
        return [[1.0, value, value * height / 2], [0.0, 1.0, 0.0]]
    if op == "ShearY":
        return [[1.0, 0.0, 0.0], [value, 1.0, value * width / 2]]
    if op == "TranslateX":
        return [[1.0, 0.0, -float(int(value))], [0.0, 1.0, 0.0]]
    if op == "TranslateY":
        return [[1.0, 0.0, 0.0], [0.0, 1.0, -float(int(value))]]
    if op == "Rotate":
        cos, sin = math.cos(math.radians(value)), math.sin(math.radians(value))
        return [[cos, -sin, 0.0], [sin, cos, 0.0]]
    return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


@lru_cache(maxsize=16)
def _warps(magnitude: int, height: int, width: int, device: torch.device) -> Tensor:
    """(len(RAND_AUGMENT_OPS), 2, 3, 2): per op and sign (+, -), the transposed inverse matrix scaled to
    grid_sample's [-1, 1] coordinates (identity for the photometric ops); built once per size, on the device."""
    table = torch.tensor([[inverse_matrix(op, sign * magnitude_of(op, magnitude, height, width), height, width)
                           for sign in (1, -1)] for op in RAND_AUGMENT_OPS], dtype=torch.float32)
    table = table.transpose(-1, -2) / torch.tensor([width / 2, height / 2])
    return table.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else table


def _photometric(pixels: Tensor, op: str, value: float) -> Tensor:
    """A photometric RandAugment op with signed `value` on a uint8 batch (torchvision's functional ops)."""
    from torchvision.transforms.v2 import functional as TF  # torchvision costs ~1 s to import: only when used

    if op == "Brightness":
        return TF.adjust_brightness(pixels, 1.0 + value)
    if op == "Color":
        return TF.adjust_saturation(pixels, 1.0 + value)
    if op == "Contrast":
        return TF.adjust_contrast(pixels, 1.0 + value)
    if op == "Sharpness":
        return TF.adjust_sharpness(pixels, 1.0 + value)
    if op == "Posterize":
        return TF.posterize(pixels, int(value))
    if op == "Solarize":
        return TF.solarize(pixels, 255.0 * value)
    return TF.autocontrast(pixels) if op == "AutoContrast" else TF.equalize(pixels)


def rand_augment_step(pixels: Tensor, op: Tensor, negative: Tensor, magnitude: int) -> Tensor:
    """One RandAugment operation per image of a uint8 batch (N, C, H, W): RAND_AUGMENT_OPS[op[i]],
    its value negated where negative[i] (ignored for unsigned ops). Geometric ops (nearest, black
    fill) are one grid_sample with per-image matrices; each photometric op runs on the whole batch
    and is kept where chosen, so nothing depends on reading `op` on the host."""
    n, _, h, w = pixels.shape
    theta = _warps(magnitude, h, w, pixels.device)[op, negative.long()]  # (N, 3, 2)
    xs = torch.linspace((1 - w) / 2, (w - 1) / 2, w, device=pixels.device)
    ys = torch.linspace((1 - h) / 2, (h - 1) / 2, h, device=pixels.device)
    base = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w, device=pixels.device)], -1)
    grid = base.view(1, h * w, 3).expand(n, -1, -1).bmm(theta).view(n, h, w, 2)
    out = F.grid_sample(pixels.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    out = out.round().to(torch.uint8)
    for index, name in enumerate(PHOTOMETRIC, start=len(GEOMETRIC)):
        value = magnitude_of(name, magnitude, h, w)
        for sign in (1, -1) if name in SIGNED else (1,):
            chosen = (op == index) & (negative == (sign < 0)) if name in SIGNED else op == index
            out = torch.where(chosen[:, None, None, None], _photometric(pixels, name, sign * value), out)
    return out


def cutout(pixels: Tensor, scale: tuple[float, float] = (0.02, 0.25)) -> Tensor:
    """Each image of (N, C, H, W) with a black square of U(scale) of its area at a uniform position:
    torchvision's RandomErasing(p=1, scale, ratio=(1, 1), value=0), the square's side capped one pixel
    short of the shorter side (where torchvision draws again)."""
    n, _, h, w = pixels.shape
    device = pixels.device
    area = torch.empty(n, device=device).uniform_(*scale) * (h * w)
    side = area.sqrt().round().clamp(max=min(h, w) - 1)
    top = (torch.rand(n, device=device) * (h - side + 1)).floor()
    left = (torch.rand(n, device=device) * (w - side + 1)).floor()
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    in_rows = (rows >= top[:, None]) & (rows < (top + side)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + side)[:, None])
    return pixels.masked_fill(in_rows[:, None, :, None] & in_cols[:, None, None, :], 0)


def strong_augment(images: Tensor, num_ops: int = 2, magnitude: int = 10, mean: tuple = UNIT[0],
                   std: tuple = UNIT[1]) -> Tensor:
    """RandAugment (Cubuk et al. 2020; `num_ops` random operations at `magnitude` of 30, each image its
    own), then Cutout of a random square of up to half the side: FixMatch's strong augmentation."""
    pixels = to_pixels(images, mean, std)
    n = len(pixels)
    for _ in range(num_ops):
        op = torch.randint(len(RAND_AUGMENT_OPS), (n,), device=pixels.device)
        negative = torch.rand(n, device=pixels.device) <= 0.5
        pixels = rand_augment_step(pixels, op, negative, magnitude)
    return from_pixels(cutout(pixels), images.dtype, mean, std)


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
