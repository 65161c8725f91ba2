"""digits_c: MNIST (or USPS) under the 15 common corruptions of Hendrycks & Dietterich (ICLR 2019), at severities
1-5 (dabench/data/corrupted.py: the corruptions, their repairs and the cache).

Domains: ``clean`` (the official train and test splits, 32x32 RGB in [-1, 1]) and ``<corruption>-<severity>``:
the test images corrupted once, a test split only. ``digits``: ``mnist`` (10,000 test images) or ``usps`` (2,007,
16x16 stretched to 32x32; its corrupted domains are cached apart, in ``digits_c-usps``); ``test_images`` keeps the
first N test images.
"""
from __future__ import annotations

from dabench.data.base import DATASETS
from dabench.data.corrupted import CorruptedImages
from dabench.data.digits import MNIST_FULL, Digits
from dabench.errors import DabenchError


@DATASETS.register("digits_c")
class DigitsC(CorruptedImages):
    num_classes = 10
    files = {f: digest for f, digest in Digits.files.items() if f.startswith(("mnist/", "usps/"))}
    urls = {f: mirrors for f, mirrors in Digits.urls.items() if f.startswith(("mnist/", "usps/"))}
    protocol = ("clean: MNIST's (or USPS's) official train/test splits; <corruption>-<severity>: its test images "
                "corrupted once (imagecorruptions, seeded per domain), a test split only")
    citation = ("Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and "
                "Perturbations, ICLR 2019; LeCun et al. 1998 (MNIST); Hull 1994 (USPS)")
    licence = "MNIST, USPS: research use; the corruption code: Apache-2.0 (imagecorruptions)"
    SOURCES = {"mnist": "MNIST t10k test images, bilinear to 32x32, grey to RGB",
               "usps": "USPS test images (2,007), 16x16 stretched bilinear to 32x32, grey to RGB"}

    def __init__(self, root=None, digits: str = "mnist", test_images: int | None = None):
        super().__init__(root)
        if digits not in self.SOURCES:
            raise DabenchError(f"digits_c: digits must be one of {', '.join(self.SOURCES)}, got '{digits}'")
        if test_images is not None and test_images < 1:
            raise DabenchError(f"digits_c: test_images must be at least 1, got {test_images}")
        self.clean_digits, self.test_images, self.source = digits, test_images, self.SOURCES[digits]
        self.digits = Digits(root, image_size=32, channels=3)

    def cache_name(self):
        return self.name if self.clean_digits == "mnist" else f"{self.name}-{self.clean_digits}"

    def domain_files(self, domain):
        if domain == "clean" or self.clean_digits == "usps":
            return self.digits.domain_files(self.clean_digits)
        return list(MNIST_FULL["test"])

    def clean_split(self, split):
        clean = self.digits.load(self.clean_digits, split)
        self.used_files.update(self.digits.used_files)
        x, y = clean.tensors
        if split == "test" and self.test_images is not None:
            x, y = x[:self.test_images], y[:self.test_images]
        return x, y
