"""digits_c (MNIST, USPS) and coil20_c: the corruptions match their published definitions on a fixed image, and the corrupted
domains are written once, seeded, with a manifest that catches a changed file."""
import importlib.resources
import io
import json
import math

import cv2
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


def impulse_noise(x, s, rng):
    """Salt and pepper: a fraction of the values (per channel) set to 0 or 1 with equal odds, drawn from a generator
    seeded from the global one (the repair for scikit-image's own generator, dabench/data/corrupted.py)."""
    values = np.random.default_rng(rng.randint(2**31))
    flipped = values.random(x.shape) <= [0.03, 0.06, 0.09, 0.17, 0.27][s - 1]
    salted = values.random(x.shape) <= 0.5
    return np.where(flipped, salted.astype(float), x)


def channel_blur(x, sigma, mode="nearest", truncate=4.0):
    """Each channel blurred by a Gaussian of `sigma` pixels (scikit-image's `gaussian` defaults)."""
    return np.stack([ndimage.gaussian_filter(x[:, :, c], sigma, mode=mode, truncate=truncate) for c in range(3)], -1)


def glass_blur(x, s, rng):
    """Blur, then for each pixel from the bottom-right inwards (a margin of the maximum offset left out) copy a
    neighbour at a random offset in [-delta, delta) over it, `iterations` times, then blur again. The published code
    writes it as a swap, but on an RGB image numpy's views make it a copy: ImageNet-C's images have the copy."""
    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][s - 1]
    pixels = np.uint8(channel_blur(x, sigma) * 255)
    side = pixels.shape[0]
    for _ in range(iterations):
        for h in range(side - delta, delta, -1):
            for w in range(side - delta, delta, -1):
                dx, dy = rng.randint(-delta, delta, size=2)
                pixels[h, w] = pixels[h + dy, w + dx]
    return np.clip(channel_blur(pixels / 255, sigma), 0, 1)


def translated(image, dx, dy):
    """`image` moved dx pixels right and dy down, its edge rows and columns repeated into the gap."""
    rows = np.clip(np.arange(image.shape[0]) - dy, 0, image.shape[0] - 1)
    columns = np.clip(np.arange(image.shape[1]) - dx, 0, image.shape[1] - 1)
    return image[rows][:, columns]


def motion_streak(image, radius, sigma, angle):
    """The image averaged with copies of itself moved 0, 1, ..., 2 * radius pixels along `angle` (degrees),
    weighted by a half-Gaussian of `sigma` pixels: taps stop at the first that moves the image out of the frame
    (the weights are not renormalised then, so the image darkens: the published definition)."""
    taps = 2 * radius + 1
    weights = np.exp(-np.arange(taps) ** 2 / (2 * sigma ** 2))
    weights /= weights.sum()
    streak = np.zeros(image.shape)
    for i, weight in enumerate(weights):
        dy = -math.ceil(i * math.sin(math.radians(angle)) - 0.5)
        dx = -math.ceil(i * math.cos(math.radians(angle)) - 0.5)
        if abs(dy) >= image.shape[0] or abs(dx) >= image.shape[1]:
            break
        streak += weight * translated(image, dx, dy)
    return streak


def motion_blur(x, s, rng):
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][s - 1]
    return np.clip(motion_streak(np.uint8(x * 255), radius, sigma, rng.uniform(-45, 45)) / 255, 0, 1)


def centre_zoomed(image, factor):
    """The central 1/factor of `image` scaled up by `factor` (bilinear); at least the image's size."""
    crop = [math.ceil(side / factor) for side in image.shape[:2]]
    top = [(side - c) // 2 for side, c in zip(image.shape[:2], crop)]
    centre = image[top[0]:top[0] + crop[0], top[1]:top[1] + crop[1]]
    return ndimage.zoom(centre, (factor, factor) + (1,) * (image.ndim - 2), order=1)


def zoom_blur(x, s, rng):
    """The mean of the image and its centre zoomed by each factor of the severity's range."""
    factors = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02), np.arange(1, 1.26, 0.02),
               np.arange(1, 1.31, 0.03)][s - 1]
    image = x.astype(np.float32)
    zoomed = sum(centre_zoomed(image, f)[:32, :32] for f in factors)
    return np.clip((image + zoomed) / (len(factors) + 1), 0, 1)


def snow(x, s, rng):
    """Gaussian flakes, zoomed, thresholded and streaked down at a random angle, added twice (the second copy turned
    half a turn) to the image brightened towards its grey level."""
    mean, std, zoom, threshold, radius, sigma, keep = [
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][s - 1]
    image = x.astype(np.float32)
    flakes = centre_zoomed(rng.normal(mean, std, size=(32, 32)), zoom)
    flakes = np.clip(np.where(flakes < threshold, 0, flakes), 0, 1)
    flakes = motion_streak(flakes, radius, sigma, rng.uniform(-135, -45))
    flakes = (np.round(flakes * 255).astype(np.uint8) / 255)[:32, :32, None]
    grey = image @ np.array([0.299, 0.587, 0.114], np.float32)
    image = keep * image + (1 - keep) * np.maximum(image, grey[:, :, None] * 1.5 + 0.5)
    return np.clip(image + flakes + flakes[::-1, ::-1], 0, 1)


def frost(x, s, rng):
    """One of the first five frost photographs the package ships, scaled by 1.1 (bicubic), a random 32x32 crop of
    it blended in."""
    image_weight, frost_weight = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][s - 1]
    name = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"][rng.randint(5)]
    photo = cv2.imread(str(importlib.resources.files("imagecorruptions") / "frost" / name))[:, :, ::-1]  # BGR
    photo = cv2.resize(photo, (math.ceil(photo.shape[1] * 1.1), math.ceil(photo.shape[0] * 1.1)),
                       interpolation=cv2.INTER_CUBIC)
    top, left = rng.randint(0, photo.shape[0] - 32), rng.randint(0, photo.shape[1] - 32)
    return np.clip(image_weight * x + frost_weight * photo[top:top + 32, left:left + 32] / 255, 0, 1)


def plasma_fractal(size, decay, rng):
    """A (size, size) map in [0, 1] by diamond-square on a torus: each step sets the centres of the squares, then
    the midpoints of their edges, to their four neighbours' mean plus uniform noise in +-wibble^2; wibble starts at
    100 and is divided by `decay` each time the step halves."""
    height = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = height[0::step, 0::step]
        right, below = np.roll(corners, -1, axis=1), np.roll(corners, -1, axis=0)
        diagonal = np.roll(below, -1, axis=1)
        noise = wibble * rng.uniform(-wibble, wibble, corners.shape)
        height[half::step, half::step] = (corners + right + below + diagonal) / 4 + noise
        centres = height[half::step, half::step]
        above = np.roll(centres, 1, axis=0)  # the centre above each top edge's midpoint
        noise = wibble * rng.uniform(-wibble, wibble, corners.shape)
        height[0::step, half::step] = (centres + above + corners + right) / 4 + noise
        left = np.roll(centres, 1, axis=1)  # the centre left of each left edge's midpoint
        noise = wibble * rng.uniform(-wibble, wibble, corners.shape)
        height[half::step, 0::step] = (centres + left + corners + below) / 4 + noise
        step, wibble = half, wibble / decay
    height -= height.min()
    return height / height.max()


def fog(x, s, rng):
    """A plasma fractal (of the next power of two of the image's side) added to every channel, the result rescaled
    so that the image's brightest value maps to max / (max + strength)."""
    strength, decay = [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)][s - 1]
    brightest = x.max()
    foggy = x + strength * plasma_fractal(32, decay, rng)[:, :, None]
    return np.clip(foggy * brightest / (brightest + strength), 0, 1)


def elastic_transform(x, s, rng):
    """Each pixel sampled (bilinear, borders reflected) from a displacement of uniform noise in +-0.5 % of the side,
    smoothed by a Gaussian of 1 % of the side (truncated at 3 sigma) and scaled by alpha."""
    alpha = 250 * [0.05, 0.065, 0.085, 0.1, 0.12][s - 1]
    image = x.astype(np.float32)
    largest, sigma = 32 * 0.005, 32 * 0.01
    dx, dy = [(ndimage.gaussian_filter(rng.uniform(-largest, largest, size=(32, 32)), sigma, mode="reflect",
                                       truncate=3) * alpha).astype(np.float32) for _ in range(2)]
    rows, columns = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    sampled = [ndimage.map_coordinates(image[:, :, c], [rows + dy, columns + dx], order=1, mode="reflect")
               for c in range(3)]
    return np.clip(np.stack(sampled, -1), 0, 1)


# Hendrycks & Dietterich's definitions (ICLR 2019, their ImageNet-C parameters), written out by hand as
# imagecorruptions packages them (its motion blur, snow and elastic transform differ from ImageNet-C's code: see
# docs/test-time.md): each maps an image in [0, 1] to one in [0, 1], which becomes uint8 by truncation of x * 255.
# The random ones draw from `rng` in the package's order.
BY_HAND = {"gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
           "defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur,
           "snow": snow, "frost": frost, "fog": fog, "brightness": brightness, "contrast": contrast,
           "elastic_transform": elastic_transform, "pixelate": pixelate, "jpeg_compression": jpeg_compression}


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


def test_digits_c_corrupts_usps_into_its_own_cache_folder(data_root, tmp_path, monkeypatch):
    from dabench.data.base import DATASETS

    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
    dataset = DATASETS.build({"name": "digits_c", "digits": "usps", "test_images": 2})
    train_y, (clean, clean_y) = dataset.load("clean", "train").tensors[1], dataset.load("clean", "test").tensors
    usps = DATASETS.build({"name": "digits", "image_size": 32, "channels": 3}).load("usps", "test").tensors
    assert len(train_y) == 7291 and torch.equal(clean, usps[0][:2]) and torch.equal(clean_y, usps[1][:2])
    x = dataset.load("snow-4", "test").tensors[0]
    uint8 = ((clean.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    assert np.array_equal(((x.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy(),
                          corrupt_images(uint8, "snow", 4, domain_seed("snow-4")))
    manifest = json.loads((tmp_path / "cache" / "digits_c-usps" / "manifest.json").read_text())
    assert manifest["source"].startswith("USPS") and not (tmp_path / "cache" / "digits_c").exists()
    with pytest.raises(DabenchError, match="digits_c: digits must be one of mnist, usps, got 'svhn'"):
        DATASETS.build({"name": "digits_c", "digits": "svhn"})

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
