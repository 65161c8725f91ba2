"""Image policies shared by the digit datasets: bring any domain to (channels, size, size) in [-1, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F

RESIZE_POLICIES = ("stretch", "frame")


def to_common_format(images: torch.Tensor, channels: int, size: int, policy: str = "stretch") -> torch.Tensor:
    """Resize and convert a batch of images, values in [0, 1], to (N, channels, size, size) in [-1, 1].

    policy "stretch": bilinear resize of the whole image to size x size.
    policy "frame": resize to round(size * 20 / 28) and zero-pad to size, the MNIST framing
    (MNIST digits sit in a 20x20 box inside 28x28). Use it for sources whose digits fill the image.
    The [-1, 1] range is the (0.5, 0.5) normalisation of the TLlib digits protocol.
    """
    if policy not in RESIZE_POLICIES:
        raise ValueError(f"unknown resize policy '{policy}'; known: {', '.join(RESIZE_POLICIES)}")
    images = images.float()
    inner = size if policy == "stretch" else round(size * 20 / 28)
    if images.shape[-1] != inner or images.shape[-2] != inner:
        images = F.interpolate(images, size=(inner, inner), mode="bilinear", align_corners=False, antialias=True)
    pad = (size - inner) // 2
    images = F.pad(images, (pad, size - inner - pad, pad, size - inner - pad))
    if images.shape[1] == 3 and channels == 1:
        from torchvision.transforms.functional import rgb_to_grayscale  # torchvision costs ~2 s to import

        images = rgb_to_grayscale(images)
    elif images.shape[1] == 1 and channels == 3:
        images = images.expand(-1, 3, -1, -1)
    return (images.clamp(0, 1) - 0.5) / 0.5
