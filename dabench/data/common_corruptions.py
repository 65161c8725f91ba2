"""The published CIFAR corruption benchmarks of Hendrycks & Dietterich (ICLR 2019, arXiv:1903.12261), as released:

- ``cifar10_c``, ``cifar100_c``: ``CIFAR-10-C.tar`` (Zenodo record 2535967) and ``CIFAR-100-C.tar`` (record
  3555552), md5s as published on Zenodo. Each holds ``CIFAR-1x0-C/<corruption>.npy``, (50000, 32, 32, 3)
  uint8: the 10,000 test images at severity 1, then 2, ... 5, and ``labels.npy``. Read straight from the tar,
  nothing extracted. Domain ``clean`` is CIFAR's own train/test split (``cifar-1x0-python.tar.gz``, md5s as
  torchvision checks them), for the source model.

Domains are ``<corruption>-<severity>`` for the 15 benchmark corruptions in the standard order (noise, blur,
weather, digital; ``corrupted.CORRUPTIONS``) and the 4 held-out extras (``EXTRA``), severities 1-5.
"""
from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import torch

from dabench.data.base import DATASETS, DomainDataset, tensor_dataset
from dabench.data.corrupted import CORRUPTIONS, SEVERITIES, check_corrupted_domain, check_test_split
from dabench.errors import DabenchError

EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")  # the benchmark's validation corruptions
CORRUPTED = tuple(f"{c}-{s}" for c in (*CORRUPTIONS, *EXTRA) for s in SEVERITIES)
CITATION = ("Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and "
            "Perturbations, ICLR 2019")


class CifarC(DomainDataset):
    """CIFAR-10-C / CIFAR-100-C read from their tars; images scaled to [-1, 1] as dabench's other small images."""

    domains = ("clean", *CORRUPTED)
    input_shape = (3, 32, 32)
    folder = ""
    corrupted_tar = ""  # the benchmark's tar and its top folder
    corrupted_folder = ""
    clean_tar = ""  # CIFAR's python archive, its batch members per split and its label key
    clean_members: dict[str, tuple[str, ...]] = {}
    label_key = b"labels"
    images_per_severity = 10000
    protocol = ("clean: CIFAR's official train/test split; <corruption>-<severity>: the published corrupted test "
                "images (a test split only)")
    citation = f"{CITATION}; Krizhevsky 2009 (CIFAR)"
    licence = "CIFAR: research use; CIFAR-C: CC BY 4.0 (Zenodo)"

    def check_domain(self, domain):
        check_corrupted_domain(self, domain, (*CORRUPTIONS, *EXTRA))

    def domain_files(self, domain):
        return [self.clean_tar if domain == "clean" else self.corrupted_tar]

    def load(self, domain, split):
        self.check_domain(domain)
        if domain == "clean":
            with tarfile.open(self.path(self.clean_tar)) as tar:
                batches = [pickle.load(tar.extractfile(member), encoding="bytes") for member in self.clean_members[split]]
            images = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
            labels = np.concatenate([b[self.label_key] for b in batches])
            return self._tensors(images, labels)
        check_test_split(self, domain, split)
        corruption, severity = domain.rsplit("-", 1)
        rows = slice((int(severity) - 1) * self.images_per_severity, int(severity) * self.images_per_severity)
        with tarfile.open(self.path(self.corrupted_tar)) as tar:
            images = self._member(tar, f"{corruption}.npy")[rows]
            labels = self._member(tar, "labels.npy")[rows]
        return self._tensors(images.transpose(0, 3, 1, 2), labels)

    def _member(self, tar: tarfile.TarFile, name: str) -> np.ndarray:
        try:
            member = tar.extractfile(f"{self.corrupted_folder}/{name}")
        except KeyError:
            raise DabenchError(f"{self.name}: {self.corrupted_tar} has no {self.corrupted_folder}/{name}; the archive "
                               f"is another release") from None
        return np.load(io.BytesIO(member.read()))

    @staticmethod
    def _tensors(images: np.ndarray, labels: np.ndarray):
        """(N, 3, 32, 32) uint8 images, (N,) labels -> a TensorDataset of [-1, 1] floats and int64 labels."""
        x = torch.from_numpy(np.ascontiguousarray(images)).float() / 127.5 - 1.0
        return tensor_dataset(x, torch.from_numpy(np.asarray(labels, dtype=np.int64)))


@DATASETS.register("cifar10_c")
class Cifar10C(CifarC):
    num_classes = 10
    corrupted_tar, corrupted_folder = "cifar10_c/CIFAR-10-C.tar", "CIFAR-10-C"
    clean_tar = "cifar10_c/cifar-10-python.tar.gz"
    clean_members = {"train": tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
                     "test": ("cifar-10-batches-py/test_batch",)}
    files = {corrupted_tar: "md5:56bf5dcef84df0e2308c6dcbcbbd8499", clean_tar: "md5:c58f30108f718f92721af3b95e74349a"}
    urls = {corrupted_tar: ["https://zenodo.org/records/2535967/files/CIFAR-10-C.tar"],
            clean_tar: ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]}


@DATASETS.register("cifar100_c")
class Cifar100C(CifarC):
    num_classes = 100
    corrupted_tar, corrupted_folder = "cifar100_c/CIFAR-100-C.tar", "CIFAR-100-C"
    clean_tar = "cifar100_c/cifar-100-python.tar.gz"
    clean_members = {"train": ("cifar-100-python/train",), "test": ("cifar-100-python/test",)}
    label_key = b"fine_labels"
    files = {corrupted_tar: "md5:11f0ed0f1191edbf9fa23466ae6021d3", clean_tar: "md5:eb9058c3a382ffc7106e4002c42a8d85"}
    urls = {corrupted_tar: ["https://zenodo.org/records/3555552/files/CIFAR-100-C.tar"],
            clean_tar: ["https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"]}
