"""digits_c and coil20_c: the corruptions match their published definitions on a fixed image, and the corrupted
domains are written once, seeded, with a manifest that catches a changed file."""
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from skimage.color import hsv2rgb, rgb2hsv

from dabench.data.corrupted import CORRUPTIONS, SEVERITIES, corrupt_images, domain_seed
from dabench.errors import DabenchError

IMAGE = (np.random.default_rng(0).random((1, 32, 32, 3)) * 255).astype(np.uint8)


def gaussian_noise(x, s, rng):
    return np.clip(x + rng.normal(size=x.shape, scale=[0.08, 0.12, 0.18, 0.26, 0.38][s - 1]), 0, 1)


def shot_noise(x, s, rng):
    photons = [60, 25, 12, 5, 3][s - 1]  # photons per unit intensity: Poisson noise
    return np.clip(rng.poisson(x * photons) / photons, 0, 1)


def jpeg_compression(x, s, rng):
    encoded = io.BytesIO()
    Image.fromarray(np.uint8(x * 255)).save(encoded, "JPEG", quality=[25, 18, 15, 10, 7][s - 1])
    return np.asarray(Image.open(encoded)) / 255


def defocus_blur(x, s, rng):
    """Each channel correlated with a disk of the severity's radius (on a grid of at least 17 x 17), the disk itself
    softened by a small Gaussian (anti-aliasing); borders mirrored."""
    radius, alias_sigma = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][s - 1]
    grid = np.arange(-max(8, radius), max(8, radius) + 1)
    disk = (grid[:, None] ** 2 + grid[None, :] ** 2 <= radius ** 2).astype(float)
    disk /= disk.sum()
    offsets = np.arange(-1, 2) if radius <= 8 else np.arange(-2, 3)
    gaussian = np.exp(-offsets ** 2 / (2 * alias_sigma ** 2))
    for axis in (0, 1):
        disk = ndimage.correlate1d(disk, gaussian / gaussian.sum(), axis=axis, mode="mirror")
    return np.clip(np.stack([ndimage.correlate(x[:, :, c], disk, mode="mirror") for c in range(3)], -1), 0, 1)


def brightness(x, s, rng):
    hsv = rgb2hsv(x)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + [0.1, 0.2, 0.3, 0.4, 0.5][s - 1], 0, 1)
    return np.clip(hsv2rgb(hsv), 0, 1)


def contrast(x, s, rng):
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * [0.4, 0.3, 0.2, 0.1, 0.05][s - 1] + means, 0, 1)


def pixelate(x, s, rng):
    side = int(32 * [0.6, 0.5, 0.4, 0.3, 0.25][s - 1])
    small = Image.fromarray(np.uint8(x * 255)).resize((side, side), Image.BOX)
    return np.asarray(small.resize((32, 32), Image.BOX)) / 255


# Hendrycks & Dietterich's definitions (ICLR 2019, their ImageNet-C parameters), written out by hand: each maps an
# image in [0, 1] to one in [0, 1], which becomes uint8 by truncation of x * 255.
BY_HAND = {"gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "defocus_blur": defocus_blur,
           "brightness": brightness, "contrast": contrast, "pixelate": pixelate, "jpeg_compression": jpeg_compression}


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("corruption", sorted(BY_HAND))
def test_a_corruption_matches_its_published_definition(corruption, severity):
    rng = np.random.RandomState(7)  # the package draws from numpy's global generator, seeded 7 by corrupt_images
    expected = BY_HAND[corruption](IMAGE[0] / 255.0, severity, rng) * 255
    got = corrupt_images(IMAGE, corruption, severity, seed=7)[0]
    assert np.abs(got.astype(int) - np.uint8(expected).astype(int)).max() <= 1  # rounding of the colour conversion


def test_every_corruption_and_severity_is_seeded_and_changes_the_image():
    for corruption in CORRUPTIONS:
        outputs = [corrupt_images(IMAGE, corruption, s, seed=3) for s in SEVERITIES]
        assert all(o.shape == IMAGE.shape and o.dtype == np.uint8 for o in outputs)
        assert all(not np.array_equal(o, IMAGE) for o in outputs), corruption
        assert np.array_equal(corrupt_images(IMAGE, corruption, 5, seed=3), outputs[-1]), corruption


def test_the_corrupted_test_split_is_written_once_with_a_manifest(data_root, tmp_path, monkeypatch):
    from dabench.data.base import DATASETS

    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
    dataset = DATASETS.build({"name": "digits_c", "test_images": 3})
    x, y = dataset.load("glass_blur-2", "test").tensors
    assert x.shape == (3, 3, 32, 32) and -1 <= x.min() and x.max() <= 1 and len(y) == 3
    clean = dataset.load("clean", "test").tensors[0]
    uint8 = ((clean.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    expected = corrupt_images(uint8, "glass_blur", 2, domain_seed("glass_blur-2"))
    assert np.array_equal(((x.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy(), expected)
    folder = tmp_path / "cache" / "digits_c"
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["files"]["glass_blur-2-first3.npy"]
    assert entry["corruption"] == "glass_blur" and entry["severity"] == 2 and len(entry["sha256"]) == 64
    assert manifest["corruptions"].startswith("imagecorruptions ")
    np.save(folder / "glass_blur-2-first3.npy", np.zeros_like(expected))  # a changed file is written again
    again = dataset.load("glass_blur-2", "test").tensors[0]
    assert np.array_equal(again.numpy(), x.numpy())
    with pytest.raises(DabenchError, match="has a test split only"):
        dataset.load("fog-1", "train")
    with pytest.raises(DabenchError, match="severity '6' of fog is not one of 1, 2, 3, 4, 5; write e.g. fog-5"):
        dataset.load("fog-6", "test")
    with pytest.raises(DabenchError, match="unknown corruption 'fogg'; domains are clean and"):
        dataset.load("fogg-1", "test")


def test_coil20_c_splits_each_object_in_two_and_corrupts_the_test_half(data_root, tmp_path, monkeypatch):
    from dabench.data.base import DATASETS

    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
    dataset = DATASETS.build("coil20_c")
    (train, train_y), (test, test_y) = dataset.load("clean", "train").tensors, dataset.load("clean", "test").tensors
    assert train.shape == test.shape == (720, 3, 32, 32)
    assert train_y.bincount().tolist() == test_y.bincount().tolist() == [36] * 20
    assert not any(torch.equal(a, b) for a, b in zip(train[:36], test[:36]))  # different poses
    x, y = dataset.load("brightness-3", "test").tensors
    uint8 = ((test.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    expected = corrupt_images(uint8, "brightness", 3, domain_seed("brightness-3"))
    assert torch.equal(y, test_y)
    assert np.array_equal(((x.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy(), expected)
    assert (tmp_path / "cache" / "coil20_c" / "manifest.json").is_file()
    with pytest.raises(DabenchError, match="coil20_c: severity '9' of fog is not one of"):
        dataset.load("fog-9", "test")
