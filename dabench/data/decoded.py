"""Images decoded once: a split's images kept as uint8 on the training device, augmented there in batches.

``decode: once`` (the default on CUDA, ``decode: auto``) decodes each file once with PIL and
resizes it as the per-sample pipeline does (``ImagePolicy.decode_resized``), then keeps the split
as one padded uint8 tensor on the device. A training batch is then a gather plus one
``grid_sample`` (RandomResizedCrop and flip for all B images at once); a test batch is an exact
gather (centre crop). No step waits on CPU workers or on a host sync, and 4x fewer bytes sit in
memory than float32. The crop boxes follow torchvision's RandomResizedCrop sampling (10 tries
of area and log-ratio, then the centre fallback), drawn from a generator on the device seeded
by (seed, step), so a batch depends on the step number only. The one difference from the
per-sample pipeline is antialiasing when a crop is shrunk (torchvision filters, grid_sample
does not); tests/test_decoded_images.py checks that both give the same pixel statistics and
crop geometry.

Memory: N x 3 x H_max x W_max bytes per split (Office-31's Amazon domain: 2,817 images, about
0.7 GB at resize_size 256); use ``decode: per_batch`` for DomainNet-sized datasets.
"""
from __future__ import annotations

import functools
import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor

from dabench.data.prefetch import prefetched
from dabench.errors import DabenchError

SCALE, RATIO, ATTEMPTS = (0.08, 1.0), (3 / 4, 4 / 3), 10  # torchvision's RandomResizedCrop defaults
CHUNK = 64  # images per decoding task


class DecodedImages:
    """N images decoded once into one padded uint8 tensor on `device`.

    ``pixels``: (N, 3, H_max, W_max) uint8, image i in ``pixels[i, :, :h_i, :w_i]``;
    ``sizes``: (N, 2) int64 (h_i, w_i), on the device; ``row``: path -> i.
    """

    def __init__(self, paths: list[str], policy, device: torch.device, workers: int):
        images = []
        decode = functools.partial(decode_chunk, paths, policy)
        for chunk in prefetched(decode, range(0, len(paths), CHUNK), workers, pin_memory=False):
            images.extend(chunk)
        height = max(image.shape[1] for image in images)
        width = max(image.shape[2] for image in images)
        check_fits(len(images) * 3 * height * width, device)
        pixels = torch.zeros(len(images), 3, height, width, dtype=torch.uint8)
        for i, image in enumerate(images):
            pixels[i, :, :image.shape[1], :image.shape[2]] = image
        self.pixels = pixels.to(device)  # one copy, not one per image
        self.sizes = torch.tensor([image.shape[1:] for image in images], dtype=torch.int64, device=device)
        self.row = {path: i for i, path in enumerate(paths)}

    def test_view(self, rows: Tensor, size: int, flip: Tensor | None = None) -> Tensor:
        """(B, 3, size, size) uint8: the centre crops of images `rows` (B,), as torchvision's CenterCrop
        (top = round((h - size) / 2)); mirrored where `flip` (B,) bool is True."""
        sizes = self.sizes[rows]
        offsets = torch.round((sizes - size) / 2).long()  # round half to even, as Python's round
        span = torch.arange(size, device=rows.device)
        ys = offsets[:, :1] + span
        xs = offsets[:, 1:] + (span if flip is None else torch.where(flip[:, None], span.flip(0), span))
        return self.pixels[rows[:, None, None], :, ys[:, :, None], xs[:, None, :]].permute(0, 3, 1, 2)

    def random_resized_crop(self, rows: Tensor, size: int, flip: Tensor, generator: torch.Generator) -> Tensor:
        """(B, 3, size, size) float32 in [0, 1]: a random resized crop of each image `rows` (B,), bilinear,
        mirrored where `flip` (B,) bool is True."""
        top, left, height, width = crop_boxes(self.sizes[rows], generator)
        _, _, max_height, max_width = self.pixels.shape
        ys = sample_positions(top, height, size, max_height)
        xs = sample_positions(left, width, size, max_width)
        xs = torch.where(flip[:, None], xs.flip(1), xs)
        grid = torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=-1)  # (B, size, size, 2)
        images = self.pixels[rows].float()
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False) / 255


def sample_positions(start: Tensor, length: Tensor, size: int, extent: int) -> Tensor:
    """(B, size) grid_sample coordinates in [-1, 1] of the `size` output pixels of a crop [start, start + length)
    (B,) along an axis of `extent` pixels: pixel centres as F.interpolate(align_corners=False) places them, clamped
    to the crop as interpolate clamps to its input, so padding never leaks in."""
    u = torch.arange(size, device=start.device, dtype=torch.float32) + 0.5
    position = start[:, None] + u * (length[:, None] / size) - 0.5
    position = torch.minimum(torch.maximum(position, start[:, None]), start[:, None] + length[:, None] - 1)
    return (2 * position + 1) / extent - 1


def crop_boxes(sizes: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(top, left, height, width), each (B,) float, of torchvision RandomResizedCrop boxes for images of
    `sizes` (B, 2): the first of 10 draws (area fraction ~ U(0.08, 1), log aspect ~ U(log 3/4, log 4/3))
    that fits, else the centre crop at the nearest allowed aspect ratio."""
    n, device = len(sizes), sizes.device
    height, width = sizes[:, 0:1].float(), sizes[:, 1:2].float()
    uniform = torch.rand(n, 2 * ATTEMPTS + 2, device=device, generator=generator)
    area = height * width * (SCALE[0] + (SCALE[1] - SCALE[0]) * uniform[:, :ATTEMPTS])
    log_low, log_high = math.log(RATIO[0]), math.log(RATIO[1])
    aspect = torch.exp(log_low + (log_high - log_low) * uniform[:, ATTEMPTS:2 * ATTEMPTS])
    tries_w, tries_h = torch.round(torch.sqrt(area * aspect)), torch.round(torch.sqrt(area / aspect))
    fits = (tries_w > 0) & (tries_w <= width) & (tries_h > 0) & (tries_h <= height)
    first = fits.float().argmax(dim=1, keepdim=True)  # the first fitting try (0 when none fits)
    w, h = tries_w.gather(1, first)[:, 0], tries_h.gather(1, first)[:, 0]
    height, width = height[:, 0], width[:, 0]
    ratio = width / height
    fallback_w = torch.where(ratio > RATIO[1], torch.round(height * RATIO[1]), width)
    fallback_h = torch.where(ratio < RATIO[0], torch.round(width / RATIO[0]), height)
    found = fits.any(dim=1)
    w, h = torch.where(found, w, fallback_w), torch.where(found, h, fallback_h)
    top = torch.where(found, torch.floor(uniform[:, -2] * (height - h + 1)), torch.floor((height - h) / 2))
    left = torch.where(found, torch.floor(uniform[:, -1] * (width - w + 1)), torch.floor((width - w) / 2))
    return top, left, h, w


def decode_chunk(paths: list[str], policy, start: int) -> list[Tensor]:
    """Images start..start + CHUNK - 1, decoded and resized (uint8); module level so loader workers can run it."""
    return [policy.decode_resized(path) for path in paths[start:start + CHUNK]]


def check_fits(nbytes: int, device: torch.device) -> None:
    """Refuse a store that would take more than half of the device's free memory (CUDA only)."""
    if device.type != "cuda":
        return
    free, _ = torch.cuda.mem_get_info(device)
    if nbytes > free / 2:
        raise DabenchError(f"decoding this split once needs {nbytes / 2**30:.1f} GiB of GPU memory and "
                           f"{device} has {free / 2**30:.1f} GiB free; set dataset.decode=per_batch for a dataset "
                           f"this large")


# Splits of one run share their images (a transductive target's train and test sets are the same files),
# and a benchmark worker runs several cells on the same domains: keep the last few stores.
_STORES: OrderedDict[tuple, DecodedImages] = OrderedDict()
KEPT_STORES = 6


def decoded(paths: list[str], policy, device: torch.device, workers: int) -> DecodedImages:
    """The DecodedImages of the set of `paths` at `policy`'s geometry on `device`, decoded at most once while kept."""
    key = (str(device), policy.geometry(), hash(tuple(sorted(paths))))
    if key not in _STORES:
        _STORES[key] = DecodedImages(sorted(set(paths)), policy, device, workers)
        while len(_STORES) > KEPT_STORES:
            _STORES.popitem(last=False)
    _STORES.move_to_end(key)
    return _STORES[key]
