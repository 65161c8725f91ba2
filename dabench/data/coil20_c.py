"""coil20_c: COIL-20 under the 15 common corruptions of Hendrycks & Dietterich (ICLR 2019), at severities 1-5
(dabench/data/corrupted.py: the corruptions, their repairs and the cache).

The 1,440 images of ``coil20`` (both JDA pose halves, 72 poses of each of 20 objects) as 32x32 RGB in [-1, 1],
split per object by file order: the even-numbered images are ``clean``'s train split, the odd-numbered ones its
test split (720 each; neighbouring poses, 5 degrees apart, fall on either side). ``<corruption>-<severity>`` is
that test split corrupted once, a test split only. Needs ``coil20``'s ``COIL_1.mat`` (by hand: see coil20).
"""
from __future__ import annotations

import torch

from dabench.data.base import DATASETS
from dabench.data.coil20 import COIL20
from dabench.data.corrupted import CorruptedImages, alternate_split


@DATASETS.register("coil20_c")
class COIL20C(CorruptedImages):
    num_classes = 20
    files = COIL20.files
    protocol = ("clean: every other image of each COIL-20 object for train, the rest for test; "
                "<corruption>-<severity>: that test split corrupted once (imagecorruptions, seeded per domain)")
    citation = ("Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and "
                "Perturbations, ICLR 2019; Nene, Nayar, Murase. Columbia Object Image Library (COIL-20). 1996")
    licence = COIL20.licence + "; the corruption code: Apache-2.0 (imagecorruptions)"
    source = "COIL-20 (JDA's COIL_1.mat, both halves), odd-numbered images of each object, 32x32, grey to RGB"

    def __init__(self, root=None):
        super().__init__(root)
        self.coil20 = COIL20(root, image_size=32, channels=3)

    def clean_split(self, split):
        halves = [self.coil20.load(domain, "test").tensors for domain in self.coil20.domains]
        self.used_files.update(self.coil20.used_files)
        x, y = torch.cat([h[0] for h in halves]), torch.cat([h[1] for h in halves])
        keep = alternate_split(y, split, self.num_classes)
        return x[keep], y[keep]
