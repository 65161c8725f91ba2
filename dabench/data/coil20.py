"""COIL-20 in two pose halves, the JDA release (Long et al., ICCV 2013).

Nene, Nayar & Murase, Columbia Object Image Library (COIL-20), 1996: 20 objects turned
on a turntable, a grey image every 5 degrees. JDA splits each object's 72 poses into two
domains of 36 (COIL1: [0, 85] and [180, 265] degrees; COIL2: the other two quadrants), so a
domain pair is a viewpoint shift: coil1 720 and coil2 720 images, 36 per class.

The file ``COIL_1.mat`` holds ``X_src`` (COIL1) and ``X_tar`` (COIL2) as (1024, 720)
columns of 32x32 grey images in [0, 1], MATLAB column order, labels 1..20 in ``Y_src`` /
``Y_tar`` (``COIL_2.mat`` holds the same arrays swapped, so only the first is read).
Images become (channels, image_size, image_size) in [-1, 1], like the digits.
Protocol: transductive, as in the JDA paper: a domain's train and test splits are the same
images (the target is trained on without its labels).

The authors share the files through MEGA and Baidu links only, which no script can fetch:
download ``COIL_1.mat`` by hand (jindongwang/transferlearning, data/dataset.md, "COIL20")
into ``<data root>/coil20/``; ``dabench data verify coil20`` checks its sha256.
"""
from __future__ import annotations

import torch

from dabench.data.base import DATASETS, DomainDataset, tensor_dataset
from dabench.data.images import to_common_format

FILE = "coil20/COIL_1.mat"


@DATASETS.register("coil20")
class COIL20(DomainDataset):
    domains = ("coil1", "coil2")
    num_classes = 20
    citation = ("Nene, Nayar, Murase. Columbia Object Image Library (COIL-20). 1996; domains: Long, Wang, Ding, "
                "Sun, Yu. Transfer Feature Learning with Joint Distribution Adaptation. ICCV 2013")
    licence = "research use; no licence stated"
    protocol = "transductive: train and test are the whole domain (target labels hidden in training)"
    transductive = True
    files = {FILE: "5001c5bcef8d95217d66a08bdccbcaae2bc8cd3142540ed4ec38ca0796342534"}

    def __init__(self, root=None, image_size: int = 32, channels: int = 1):
        super().__init__(root)
        self.image_size, self.channels = image_size, channels
        self.input_shape = (channels, image_size, image_size)

    def domain_files(self, domain):
        return [FILE]

    def load(self, domain, split):
        from scipy.io import loadmat

        self.check_domain(domain)
        mat = loadmat(self.path(FILE))
        pixels, labels = (mat["X_src"], mat["Y_src"]) if domain == "coil1" else (mat["X_tar"], mat["Y_tar"])
        # MATLAB stores each 32x32 image column by column: transpose the last two axes to get rows.
        images = torch.from_numpy(pixels.T.reshape(-1, 1, 32, 32)).float().transpose(-1, -2)
        x = to_common_format(images, self.channels, self.image_size)
        return tensor_dataset(x, labels.ravel().astype("int64") - 1)
