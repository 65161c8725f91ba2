"""Digits: MNIST, USPS, MNIST-M and SVHN, brought to one image format by an explicit policy.

- ``mnist``: LeCun et al. 1998, official IDX gzip files; the full 60,000 training images
  when present, else the first-10k training files (the offline copy). Test: 10,000.
- ``usps``: Hull 1994, train 7,291 / test 2,007, 16x16: the LIBSVM files as distributed
  (``usps.bz2``, ``usps.t.bz2``; labels 1..10, values in [-1, 1]) when present, else the
  HDF5 layout (values in [0, 1]). Both hold the same images.
- ``mnistm``: Ganin & Lempitsky 2015, the original archive layout (32x32 RGB PNGs with
  ``mnist_m_{train,test}_labels.txt``), read straight from the tar.gz: the full
  ``mnist_m.tar.gz`` (59,001 / 9,001) when present, else the offline subset.
- ``svhn``: Netzer et al. 2011, the cropped-digit ``train_32x32.mat`` / ``test_32x32.mat``
  (73,257 / 26,032, 32x32 RGB; label 10 means digit 0).

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
from dabench.data.download import google_drive
from dabench.data.images import to_common_format
from dabench.errors import DabenchError

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_FULL = {"train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
              "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")}
MNIST_FIRST10K = ("mnist/train-images-idx3-ubyte-first10k.gz", "mnist/train-labels-idx1-ubyte-first10k.gz")
USPS_FILE = "usps/usps.h5"
USPS_LIBSVM = {"train": "usps/usps.bz2", "test": "usps/usps.t.bz2"}
MNISTM_FILE = "mnist_m/mnist_m_subset.tar.gz"
MNISTM_FULL = "mnist_m/mnist_m.tar.gz"
SVHN = {"train": "svhn/train_32x32.mat", "test": "svhn/test_32x32.mat"}
COUNTS = {"mnist": (60000, 10000), "usps": (7291, 2007), "mnistm": (59001, 9001), "svhn": (73257, 26032)}


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
    domains = ("mnist", "usps", "mnistm", "svhn")
    num_classes = 10
    protocol = "official train/test splits"
    citation = ("LeCun et al. 1998 (MNIST); Hull 1994 (USPS); Ganin & Lempitsky, ICML 2015 (MNIST-M); "
                "Netzer et al. 2011 (SVHN)")
    licence = "research use (MNIST, USPS, MNIST-M: no licence stated); SVHN: non-commercial use only"
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
        # md5 digests as published with torchvision's USPS and SVHN loaders, and for MNIST-M with
        # pytorch-adapt's and DeepMind dm_nevis' loaders.
        USPS_LIBSVM["train"]: "md5:ec16c51db3855ca6c91edd34d0e9b197",
        USPS_LIBSVM["test"]: "md5:8ea070ee2aca1ac39742fdd1ef5ed118",
        MNISTM_FULL: "md5:859df31c91afe82e80e5012ba928f279",
        SVHN["train"]: "md5:e26dedcc434d2e4c54c9b2d4a06d8373",
        SVHN["test"]: "md5:eb5a983be6a315427106f1b164d9cef3",
    }
    urls = {
        **{f: [m + f.split("/")[-1] for m in MNIST_MIRRORS] for f in (*MNIST_FULL["train"], *MNIST_FULL["test"])},
        **{f: ["https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/" + f.split("/")[-1]]
           for f in USPS_LIBSVM.values()},
        **{f: ["http://ufldl.stanford.edu/housenumbers/" + f.split("/")[-1]] for f in SVHN.values()},
        MNISTM_FULL: [google_drive("0B_tExHiYS-0veklUZHFYT19KYjg"),  # the authors' (Ganin's) copy
                      "https://cornell.box.com/shared/static/jado7quprg6hzzdubvwzh9umr75damwi"],  # pytorch-adapt's
    }

    def __init__(self, root=None, image_size: int = 28, channels: int = 1, usps_resize: str = "stretch"):
        super().__init__(root)
        self.image_size, self.channels, self.usps_resize = image_size, channels, usps_resize
        self.input_shape = (channels, image_size, image_size)

    def domain_files(self, domain):
        return {"mnist": [*MNIST_FULL["test"], *self._mnist_train_files()], "usps": self._usps_files(),
                "mnistm": [self._preferred((MNISTM_FULL,), (MNISTM_FILE,))[0]], "svhn": list(SVHN.values())}[domain]

    def _preferred(self, full: tuple[str, ...], fallback: tuple[str, ...]) -> tuple[str, ...]:
        return full if all((self.root / f).is_file() for f in full) else fallback

    def _mnist_train_files(self) -> tuple[str, str]:
        """The full training files when present, else the first-10k files."""
        return self._preferred(MNIST_FULL["train"], MNIST_FIRST10K)

    def _usps_files(self) -> list[str]:
        return list(self._preferred(tuple(USPS_LIBSVM.values()), (USPS_FILE,)))

    def load(self, domain, split):
        self.check_domain(domain)
        policy = "stretch"
        if domain == "mnist":
            image_file, label_file = self._mnist_train_files() if split == "train" else MNIST_FULL["test"]
            images, labels = read_idx(self.path(image_file))[:, None], read_idx(self.path(label_file))
        elif domain == "usps":
            images, labels = self._read_usps(split)
            policy = self.usps_resize
        elif domain == "svhn":
            from scipy.io import loadmat

            mat = loadmat(self.path(SVHN[split]))
            images, labels = mat["X"].transpose(3, 2, 0, 1), mat["y"].ravel().astype(np.int64) % 10
        else:
            images, labels = read_mnistm(self.path(self.domain_files("mnistm")[0]), split)
        expected = self._expected_count(domain, split)
        if len(labels) != expected:
            raise DabenchError(f"digits: {domain} {split} has {len(labels)} images, expected {expected}; the file is "
                               f"truncated or another release: delete it and run `dabench data download digits`")
        x = to_common_format(torch.from_numpy(images).float() / 255.0, self.channels, self.image_size, policy)
        return tensor_dataset(x, labels)

    def _expected_count(self, domain: str, split: str) -> int:
        offline_subset = self._mnist_train_files() == MNIST_FIRST10K if domain == "mnist" else \
            self.domain_files("mnistm") == [MNISTM_FILE] if domain == "mnistm" else False
        return 10000 if split == "train" and offline_subset else COUNTS[domain][split == "test"]

    def _read_usps(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(n, 1, 16, 16) uint8 images and labels 0..9, from the LIBSVM files or the HDF5 file."""
        if self._usps_files() != [USPS_FILE]:
            from sklearn.datasets import load_svmlight_file

            features, labels = load_svmlight_file(str(self.path(USPS_LIBSVM[split])), n_features=256)
            pixels, labels = (features.toarray() + 1) / 2, labels.astype(np.int64) - 1
        else:
            with h5py.File(self.path(USPS_FILE), "r") as f:
                pixels, labels = f[f"{split}/data"][:], f[f"{split}/target"][:]
        return (pixels * 255).round().astype(np.uint8).reshape(-1, 1, 16, 16), labels
