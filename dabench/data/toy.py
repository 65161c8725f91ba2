"""toy: three Gaussian-blob domains with a shift, for tests and smoke runs (seconds on a CPU).

Each class c has a random mean m_c in R^dim; domain ``a`` draws x = m_c + noise, domain
``b`` the same rotated by 30 degrees in the first two axes and shifted by +shift, domain ``c``
(for multi-source runs) rotated by -30 degrees and shifted by -shift. Deterministic.
With ``as_image`` (dim a square) samples become (1, sqrt(dim), sqrt(dim)) images in
[-1, 1] (tanh(x / 3)), for methods that augment images.
"""
from __future__ import annotations

import math

import torch

from dabench.data.base import DATASETS, DomainDataset, tensor_dataset
from dabench.errors import DabenchError


@DATASETS.register("toy")
class Toy(DomainDataset):
    modality = "synthetic"
    domains = ("a", "b", "c")
    protocol = "synthetic: independent train and test draws"

    def __init__(self, root=None, dim: int = 8, num_classes: int = 3, samples: int = 300, shift: float = 1.5,
                 as_image: bool = False):
        super().__init__(root)
        self.dim, self.num_classes, self.samples, self.shift, self.as_image = dim, num_classes, samples, shift, as_image
        side = math.isqrt(dim)
        if as_image and side * side != dim:
            raise DabenchError(f"toy: as_image needs dim to be a square (16, 64...), got {dim}")
        self.input_shape = (1, side, side) if as_image else (dim,)

    def load(self, domain, split):
        self.check_domain(domain)
        means = torch.randn(self.num_classes, self.dim, generator=torch.Generator().manual_seed(0)) * 3
        g = torch.Generator().manual_seed(10 * (1 + self.domains.index(domain)) + (split == "test"))
        y = torch.arange(self.samples) % self.num_classes
        x = means[y] + torch.randn(self.samples, self.dim, generator=g)
        if domain != "a":
            sign = 1 if domain == "b" else -1
            angle = sign * math.pi / 6
            rot = torch.eye(self.dim)
            rot[:2, :2] = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
            x = x @ rot.T + sign * self.shift
        if self.as_image:
            x = torch.tanh(x / 3).view(len(x), *self.input_shape)
        return tensor_dataset(x, y)
