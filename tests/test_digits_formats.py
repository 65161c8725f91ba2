"""The digit formats as distributed: USPS's LIBSVM bz2 files, SVHN's .mat files, the full MNIST-M
archive. Each test writes files in the published layout (USPS from the real HDF5 data)."""
import bz2
import hashlib
import shutil

import h5py
import numpy as np
import pytest
import torch
from scipy.io import savemat
from sklearn.datasets import dump_svmlight_file

from dabench.data import digits
from dabench.data.base import DATASETS
from dabench.errors import DabenchError

SHOWN = 500


def test_usps_libsvm_files_hold_the_same_images_as_the_hdf5_layout(data_root, tmp_path, monkeypatch):
    (tmp_path / "usps").mkdir()
    with h5py.File(data_root / "usps" / "usps.h5") as f:
        for split, name in (("train", "usps.bz2"), ("test", "usps.t.bz2")):
            # LIBSVM's scaling: pixels to [-1, 1], labels 1..10
            raw = tmp_path / "raw.svm"
            # the first SHOWN images of each split: the text format's parse is what is checked, not its size
            dump_svmlight_file(f[f"{split}/data"][:SHOWN] * 2 - 1, f[f"{split}/target"][:SHOWN] + 1, str(raw),
                               zero_based=False)
            (tmp_path / "usps" / name).write_bytes(bz2.compress(raw.read_bytes()))
    for split, relpath in digits.USPS_LIBSVM.items():
        monkeypatch.setitem(digits.Digits.files, relpath,
                            "md5:" + hashlib.md5((tmp_path / relpath).read_bytes()).hexdigest())
    from_libsvm = DATASETS.build("digits", root=tmp_path)
    from_hdf5 = DATASETS.build("digits", root=data_root)
    assert from_libsvm.domain_files("usps") == list(digits.USPS_LIBSVM.values())
    for split in ("train", "test"):
        with monkeypatch.context() as shown:  # the libsvm files hold SHOWN images a split
            shown.setitem(digits.COUNTS, "usps", (SHOWN, SHOWN))
            x_libsvm, y_libsvm = from_libsvm.load("usps", split).tensors
        x_hdf5, y_hdf5 = (t[:SHOWN] for t in from_hdf5.load("usps", split).tensors)
        # equal up to one grey level (the text format rounds the pixel values)
        assert torch.equal(y_libsvm, y_hdf5) and (x_libsvm - x_hdf5).abs().max() <= 2 / 255 + 1e-6
    (tmp_path / "usps" / "usps.bz2").write_bytes(b"corrupt")
    with pytest.raises(DabenchError, match=r"usps.bz2 has sha256 [0-9a-f]{64}, expected md5:"):
        from_libsvm.load("usps", "train")


def write_svhn(folder, n: int):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train_32x32.mat", "test_32x32.mat"):
        savemat(folder / name, {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                "y": (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)})


def test_svhn_mat_files_label_ten_is_digit_zero_and_counts_are_checked(tmp_path, monkeypatch):
    write_svhn(tmp_path / "svhn", 20)
    for relpath in digits.SVHN.values():
        monkeypatch.setitem(digits.Digits.files, relpath, None)
    monkeypatch.setitem(digits.COUNTS, "svhn", (20, 20))
    dataset = DATASETS.build({"name": "digits", "image_size": 32, "channels": 3}, root=tmp_path)
    x, y = dataset.load("svhn", "train").tensors
    assert x.shape == (20, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert y.tolist()[:10] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    monkeypatch.setitem(digits.COUNTS, "svhn", (73257, 26032))
    with pytest.raises(DabenchError, match=r"digits: svhn train has 20 images, expected 73257"):
        dataset.load("svhn", "train")


def test_the_full_mnist_m_archive_is_preferred_to_the_offline_subset(data_root, tmp_path, monkeypatch):
    shutil.copytree(data_root / "mnist_m", tmp_path / "mnist_m")
    shutil.copy(tmp_path / "mnist_m" / "mnist_m_subset.tar.gz", tmp_path / "mnist_m" / "mnist_m.tar.gz")
    dataset = DATASETS.build("digits", root=tmp_path)
    assert dataset.domain_files("mnistm") == [digits.MNISTM_FULL]
    # the published md5 tells the real archive from anything else with its name
    with pytest.raises(DabenchError, match=r"mnist_m.tar.gz has sha256 [0-9a-f]{64}, expected md5:859df31c"):
        dataset.load("mnistm", "test")
    monkeypatch.setitem(digits.Digits.files, digits.MNISTM_FULL, None)
    # the subset's 10,000 training images are not the full archive's 59,001
    with pytest.raises(DabenchError, match=r"mnistm train has 10000 images, expected 59001"):
        dataset.load("mnistm", "train")
    assert len(dataset.load("mnistm", "test")) == 9001
