"""Digits: MNIST, USPS and MNIST-M, brought to one image format by an explicit policy.

- ``mnist``: LeCun et al. 1998, official IDX gzip files; the full 60,000 training images
  when present, else the first-10k training files (the offline copy). Test: 10,000.
- ``usps``: Hull 1994, the HDF5 layout (train 7,291 / test 2,007, 16x16 in [0, 1]).
- ``mnistm``: Ganin & Lempitsky 2015, the original archive layout (32x32 RGB PNGs with
  ``mnist_m_{train,test}_labels.txt``); read straight from the tar.gz.

Every domain becomes (channels, image_size, image_size) in [-1, 1]: LeNet uses (1, 28),
DTN (3, 32). ``usps_resize`` chooses how USPS 16x16 reaches image_size: "stretch"
(bilinear, TLlib's protocol) or "frame" (resize to 20/28 of the side and pad, MNIST's
framing); it moves source-only accuracy by tens of points, so it is part of the config.
Protocol: the datasets' official train/test splits.
"""
from __future__ import annotations

import gzip
import io
import tarfile

import h5py
import numpy as np
import torch
from PIL import Image

from dabench.data.base import DATASETS, DomainDataset, tensor_dataset
from dabench.data.images import to_common_format
from dabench.errors import DabenchError

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_FULL = {"train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
              "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")}
MNIST_FIRST10K = ("mnist/train-images-idx3-ubyte-first10k.gz", "mnist/train-labels-idx1-ubyte-first10k.gz")
USPS_FILE = "usps/usps.h5"
MNISTM_FILE = "mnist_m/mnist_m_subset.tar.gz"


def read_idx(path) -> np.ndarray:
    """Decode a gzip IDX file (the MNIST format): big-endian header, then uint8 data."""
    raw = gzip.open(path).read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(shape):
        raise DabenchError(f"digits: {path} is truncated: header says {shape}, found {data.size} values")
    return data.reshape(shape).copy()


def read_mnistm(path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, 32, 32) uint8 images and labels from the MNIST-M tar.gz, in label-file order."""
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        labels_name = f"mnist_m/mnist_m_{split}_labels.txt"
        lines = tar.extractfile(members[labels_name]).read().decode().split()
        names, labels = lines[0::2], np.array(lines[1::2], dtype=np.int64)
        images = [np.asarray(Image.open(io.BytesIO(tar.extractfile(members[f"mnist_m/mnist_m_{split}/{n}"]).read()))
                             .convert("RGB")) for n in names]
    return np.stack(images).transpose(0, 3, 1, 2), labels


@DATASETS.register("digits")
class Digits(DomainDataset):
    domains = ("mnist", "usps", "mnistm")
    num_classes = 10
    protocol = "official train/test splits"
    # The official archives, and for the test files also the offline copy (same IDX data, gzipped again).
    files = {
        "mnist/train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "mnist/train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "mnist/t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                            "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b"),
        "mnist/t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                            "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c"),
        "mnist/train-images-idx3-ubyte-first10k.gz": "4ba13e1016629c7884f21bcc6a763249035c392fc8323dc8776227c645a25198",
        "mnist/train-labels-idx1-ubyte-first10k.gz": "d4901858fdb31900de59731f15a05d916e779c930ce11afc5b1b87e30f771ace",
        USPS_FILE: "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
        MNISTM_FILE: "af88d7d5e280bc0feacf679d7d6ebc80fe4b1a2efeb3df1ad72f4243efb43f56",
    }
    urls = {f: [m + f.split("/")[-1] for m in MNIST_MIRRORS] for f in (*MNIST_FULL["train"], *MNIST_FULL["test"])}

    def __init__(self, root=None, image_size: int = 28, channels: int = 1, usps_resize: str = "stretch"):
        super().__init__(root)
        self.image_size, self.channels, self.usps_resize = image_size, channels, usps_resize
        self.input_shape = (channels, image_size, image_size)

    def domain_files(self, domain):
        return {"mnist": [*MNIST_FULL["test"], *self._mnist_train_files()], "usps": [USPS_FILE], "mnistm": [MNISTM_FILE]}[domain]

    def _mnist_train_files(self) -> tuple[str, str]:
        """The full training files when present, else the first-10k files."""
        full = MNIST_FULL["train"]
        return full if all((self.root / f).is_file() for f in full) else MNIST_FIRST10K

    def load(self, domain, split):
        self.check_domain(domain)
        policy = "stretch"
        if domain == "mnist":
            image_file, label_file = self._mnist_train_files() if split == "train" else MNIST_FULL["test"]
            images, labels = read_idx(self.path(image_file))[:, None], read_idx(self.path(label_file))
        elif domain == "usps":
            with h5py.File(self.path(USPS_FILE), "r") as f:
                images = (f[f"{split}/data"][:] * 255).round().astype(np.uint8).reshape(-1, 1, 16, 16)
                labels = f[f"{split}/target"][:]
            policy = self.usps_resize
        else:
            images, labels = read_mnistm(self.path(MNISTM_FILE), split)
        x = to_common_format(torch.from_numpy(images).float() / 255.0, self.channels, self.image_size, policy)
        return tensor_dataset(x, labels)
