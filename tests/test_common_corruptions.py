"""cifar10_c and cifar100_c against archives built locally in their published layout, served over HTTP:
downloaded, checked, read straight from the tar, each severity its own block of rows."""
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest

from dabench.data.base import DATASETS
from dabench.errors import DabenchError

N = 4  # test images per severity in the built archives (10,000 in the real ones)


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def build_cifar_c(served, cls, rows: int) -> dict:
    """The corrupted tar (every corruption: severity s of image i painted s * 10 + i) and the clean python tar."""
    labels = np.tile(np.arange(N) % cls.num_classes, 5).astype(np.uint8)
    with tarfile.open(served / cls.corrupted_tar.split("/")[1], "w") as tar:
        for corruption in ("gaussian_noise", "fog", "saturate"):
            images = np.repeat(((np.arange(5)[:, None] + 1) * 10 + np.arange(N)).reshape(-1), 32 * 32 * 3)
            add(tar, f"{cls.corrupted_folder}/{corruption}.npy", npy(images.reshape(5 * N, 32, 32, 3).astype(np.uint8)))
        add(tar, f"{cls.corrupted_folder}/labels.npy", npy(labels))
    with tarfile.open(served / cls.clean_tar.split("/")[1], "w:gz") as tar:
        for split, members in cls.clean_members.items():
            for member in members:
                batch = {b"data": np.full((rows, 3072), 7 if split == "train" else 9, np.uint8),
                         cls.label_key: list(range(rows))}
                add(tar, member, pickle.dumps(batch))
    return {relpath: f"sha256:{hashlib.sha256((served / relpath.split('/')[1]).read_bytes()).hexdigest()}"
            for relpath in cls.files}


@pytest.mark.parametrize("name", ["cifar10_c", "cifar100_c"])
def test_cifar_c_downloads_and_reads_each_severity_from_the_tar(name, server, tmp_path, monkeypatch):
    served, url = server
    cls = DATASETS.get(name)
    assert all(checksum.startswith("md5:") for checksum in cls.files.values())  # the published digests
    monkeypatch.setattr(cls, "files", build_cifar_c(served, cls, rows=3))
    monkeypatch.setattr(cls, "urls", {f: ["http://127.0.0.1:9/dead", url + f.split("/")[1]] for f in cls.files})
    dataset = DATASETS.build(name, root=tmp_path)
    assert dataset.missing_files("fog-3")
    dataset.download(progress=False)
    monkeypatch.setattr(cls, "images_per_severity", N)
    x, y = dataset.load("fog-3", "test").tensors
    assert x.shape == (N, 3, 32, 32) and y.tolist() == list(np.arange(N) % cls.num_classes)
    assert ((x[:, 0, 0, 0] + 1) * 127.5).round().tolist() == [30, 31, 32, 33]  # severity 3's block, image order
    train, _ = dataset.load("clean", "train").tensors
    assert len(train) == 3 * len(cls.clean_members["train"]) and train.shape[1:] == (3, 32, 32)
    with pytest.raises(DabenchError, match="has a test split only"):
        dataset.load("fog-1", "train")
    with pytest.raises(DabenchError, match=f"{name}: severity '0' of fog is not one of 1, 2, 3, 4, 5"):
        dataset.load("fog-0", "test")
    with pytest.raises(DabenchError, match=f"{name}: unknown corruption 'rain'"):
        dataset.load("rain-1", "test")


def test_a_corrupt_cifar_c_tar_is_refused_with_its_checksum(server, tmp_path, monkeypatch):
    served, url = server
    cls = DATASETS.get("cifar10_c")
    files = build_cifar_c(served, cls, rows=2)
    (served / "CIFAR-10-C.tar").write_bytes(b"truncated")
    monkeypatch.setattr(cls, "files", files)
    monkeypatch.setattr(cls, "urls", {f: [url + f.split("/")[1]] for f in cls.files})
    with pytest.raises(DabenchError, match="could not download cifar10_c/CIFAR-10-C.tar: .*expected sha256:"):
        DATASETS.build("cifar10_c", root=tmp_path).download(progress=False)
