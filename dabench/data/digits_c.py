"""digits_c: MNIST under the 15 common corruptions of Hendrycks & Dietterich (ICLR 2019), at severities 1-5
(dabench/data/corrupted.py: the corruptions, their repairs and the cache).

Domains: ``clean`` (MNIST's official train and test splits, 32x32 RGB in [-1, 1]) and ``<corruption>-<severity>``:
MNIST's test images corrupted once, a test split only; ``test_images`` keeps the first N test images.
"""
from __future__ import annotations

from dabench.data.base import DATASETS
from dabench.data.corrupted import CorruptedImages
from dabench.data.digits import MNIST_FULL, Digits
from dabench.errors import DabenchError


@DATASETS.register("digits_c")
class DigitsC(CorruptedImages):
    num_classes = 10
    files = {f: digest for f, digest in Digits.files.items() if f.startswith("mnist/")}
    urls = {f: mirrors for f, mirrors in Digits.urls.items() if f.startswith("mnist/")}
    protocol = ("clean: MNIST's official train/test splits; <corruption>-<severity>: MNIST's test images corrupted "
                "once (imagecorruptions, seeded per domain), a test split only")
    citation = ("Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and "
                "Perturbations, ICLR 2019; LeCun et al. 1998 (MNIST)")
    licence = "MNIST: research use; the corruption code: Apache-2.0 (imagecorruptions)"
    source = "MNIST t10k test images, bilinear to 32x32, grey to RGB"

    def __init__(self, root=None, test_images: int | None = None):
        super().__init__(root)
        if test_images is not None and test_images < 1:
            raise DabenchError(f"digits_c: test_images must be at least 1, got {test_images}")
        self.test_images = test_images
        self.digits = Digits(root, image_size=32, channels=3)

    def domain_files(self, domain):
        return self.digits.domain_files("mnist") if domain == "clean" else list(MNIST_FULL["test"])

    def clean_split(self, split):
        clean = self.digits.load("mnist", split)
        self.used_files.update(self.digits.used_files)
        x, y = clean.tensors
        if split == "test" and self.test_images is not None:
            x, y = x[:self.test_images], y[:self.test_images]
        return x, y
