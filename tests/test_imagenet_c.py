"""imagenet_c against a tar built locally in the released layout (imported, and served over HTTP), and the stream whose source
model is a pretrained classifier (`source: none`): the backbone's own head, scored as that network alone scores."""
import hashlib
import io
import shutil
import tarfile

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from dabench.data.archives import Archive, prepare
from dabench.data.base import DATASETS
from dabench.errors import DabenchError
from dabench.stream.protocol import pretrained_classifier, resolve_stream, run_stream

WNIDS = [f"n{index * 7919 % 100_000_000:08d}" for index in range(1000)]  # 1000 synset-like ids, not in sorted order


def jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def build_noise_tar(path, severities=(1, 5)) -> str:
    """noise.tar holding gaussian_noise/<severity>/<wnid>/ILSVRC2012_val_<n>.JPEG, one image per class whose grey
    level is the wnid's position in WNIDS (not its label); returns its sha256."""
    with tarfile.open(path, "w") as tar:
        for severity in severities:
            for position, wnid in enumerate(WNIDS):
                data = jpeg(position % 256)
                info = tarfile.TarInfo(f"gaussian_noise/{severity}/{wnid}/ILSVRC2012_val_{position + 1:08d}.JPEG")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def imagenet_c(tmp_path_factory):
    """(dataset class, data root) with gaussian_noise-1 and -5 imported from a tar in the released layout and
    verified, for the module's tests (the tar's checksum stands in for the published one)."""
    cls = DATASETS.get("imagenet_c")
    noise = next(a for a in cls.archives if a.name == "noise.tar")
    held = tmp_path_factory.mktemp("by_hand")
    digest = build_noise_tar(held / "noise.tar")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cls, "archives", (Archive("noise.tar", noise.mirrors, f"sha256:{digest}", noise.domains),))
        patch.setattr(cls, "counts", {"gaussian_noise-1": 1000, "gaussian_noise-5": 1000})
        root = tmp_path_factory.mktemp("data")
        dataset = DATASETS.build({"name": "imagenet_c", "workers": 0}, root=root)
        assert dataset.missing_files("gaussian_noise-5")
        marker = prepare(dataset, ["gaussian_noise-1", "gaussian_noise-5"], source=held)  # `dabench data import`
        assert sorted(marker["counts"]) == ["gaussian_noise-1", "gaussian_noise-5"]
        yield cls, root


def test_the_published_archives_and_the_standard_domains():
    cls = DATASETS.get("imagenet_c")
    assert {a.name: a.checksum for a in cls.archives} == {  # Zenodo record 2235448
        "noise.tar": "md5:e80562d7f6c3f8834afb1ecf27252745", "blur.tar": "md5:2d8e81fdd8e07fef67b9334fa635e45c",
        "weather.tar": "md5:33ffea4db4d93fe4a428c40a6ce0c25d", "digital.tar": "md5:89157860d7b10d5797849337ca2e5c03",
        "extra.tar": "md5:d492dfba5fc162d8ec2c3cd8ee672984"}
    assert cls.domains[:6] == ("gaussian_noise-1", "gaussian_noise-2", "gaussian_noise-3", "gaussian_noise-4",
                               "gaussian_noise-5", "shot_noise-1") and len(cls.domains) == 19 * 5
    assert [a.name for a in cls.archives if "fog-5" in a.domains] == ["weather.tar"]
    dataset = DATASETS.build("imagenet_c", root="/nonexistent")
    with pytest.raises(DabenchError, match="imagenet_c: severity '6' of fog is not one of 1, 2, 3, 4, 5"):
        dataset.check_domain("fog-6")
    with pytest.raises(DabenchError, match="imagenet_c: unknown corruption 'rain'"):
        dataset.check_domain("rain-1")


def test_verified_domains_are_labelled_by_sorted_wnid(imagenet_c):
    _, root = imagenet_c
    dataset = DATASETS.build({"name": "imagenet_c", "image_size": 8, "resize_size": 8, "workers": 0}, root=root)
    files, y = dataset.load("gaussian_noise-5", "test").tensors
    x = files[:]  # read lazily, every image here
    assert x.shape == (1000, 3, 8, 8) and sorted(y.tolist()) == list(range(1000))
    # Each image's grey level is its wnid's position in WNIDS; its label is that wnid's rank among the sorted ones.
    rank = {wnid: i for i, wnid in enumerate(sorted(WNIDS))}
    mean, std = 0.485, 0.229  # ImageNet normalization of the red channel
    grey = (x[:, 0].mean((1, 2)) * std + mean) * 255
    for position in (0, 1, 500, 999):
        row = int((y == rank[WNIDS[position]]).nonzero())
        assert grey[row].item() == pytest.approx(position % 256, abs=3)  # JPEG rounding
    with pytest.raises(DabenchError, match="has a test split only"):
        dataset.load("gaussian_noise-5", "train")


def test_an_extraction_missing_a_class_folder_is_named(imagenet_c, tmp_path):
    _, verified = imagenet_c
    root = tmp_path / "data"
    shutil.copytree(verified, root)
    folder = root / "imagenet_c" / "gaussian_noise" / "1" / WNIDS[3]
    for image in folder.iterdir():
        image.unlink()
    folder.rmdir()
    dataset = DATASETS.build({"name": "imagenet_c", "workers": 0}, root=root)
    with pytest.raises(DabenchError, match="holds 999 class folders, not ImageNet's 1000"):
        dataset.load("gaussian_noise-1", "test")


def test_the_download_skips_a_corrupt_copy_and_refuses_when_none_is_good(server, tmp_path, monkeypatch):
    served, url = server
    cls = DATASETS.get("imagenet_c")
    (served / "good").mkdir()
    digest = build_noise_tar(served / "good" / "noise.tar", severities=(5,))
    (served / "noise.tar").write_bytes(b"truncated")
    domains = cls.archives[0].domains
    monkeypatch.setattr(cls, "counts", {"gaussian_noise-5": 1000})
    monkeypatch.setattr(cls, "archives", (Archive("noise.tar", (url + "noise.tar", url + "good/noise.tar"),
                                                  f"sha256:{digest}", domains),))
    dataset = DATASETS.build({"name": "imagenet_c", "workers": 0}, root=tmp_path / "a")
    assert dataset.download(["gaussian_noise-5"], progress=False) == ["gaussian_noise-5"]
    monkeypatch.setattr(cls, "archives", (Archive("noise.tar", (url + "noise.tar",), f"sha256:{digest}", domains),))
    with pytest.raises(DabenchError, match="noise.tar.*expected sha256:"):
        DATASETS.build("imagenet_c", root=tmp_path / "b").download(["gaussian_noise-5"], progress=False)


def stream_config(root, weights, **model) -> dict:
    return {"dataset": {"name": "imagenet_c", "image_size": 16, "resize_size": 16, "workers": 0}, "data_root": str(root),
            "source": "none", "targets": ["gaussian_noise-5"], "stream": {"batch_size": 500},
            "model": {"backbone": {"name": "resnet18", "weights": weights}, "bottleneck_dim": 0, **model},
            "trainer": {"threads": 1}}


def test_a_pretrained_source_is_the_network_with_its_own_head(imagenet_c, tmp_path):
    _, root = imagenet_c
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None).eval()
    torch.save(network.state_dict(), tmp_path / "resnet18.pth")
    config = stream_config(root, str(tmp_path / "resnet18.pth"))
    run = resolve_stream(config)["run"]
    model, _ = pretrained_classifier(run, (3, 16, 16), 1000)
    model.eval()
    dataset = DATASETS.build(config["dataset"], root=root)
    x, y = dataset.load("gaussian_noise-5", "test").tensors
    x = x[:]
    with torch.no_grad():
        logits = network(x)
        assert torch.allclose(model(x).logits, logits, atol=1e-5)
    result = run_stream(config, tmp_path / "stream")
    assert result["source"] == "none" and result["source_stage"]["steps"] == 0
    accuracy = 100.0 * float((logits.argmax(1) == y).float().mean())
    assert result["online_accuracy_per_domain"]["gaussian_noise-5"] == pytest.approx(accuracy)


def test_a_pretrained_source_needs_a_head_and_no_bottleneck(imagenet_c, tmp_path):
    _, root = imagenet_c
    with pytest.raises(DabenchError, match="set model.bottleneck_dim=0"):
        resolve_stream({**stream_config(root, None), "model": {"backbone": "resnet18", "bottleneck_dim": 256}})
    with pytest.raises(DabenchError, match="backbone resnet18 ships none with these weights"):
        run_stream(stream_config(root, None), tmp_path / "stream")
    assert not (tmp_path / "stream" / "result.json").exists()
