"""digits_c: MNIST under the 15 common corruptions of Hendrycks & Dietterich (ICLR 2019), at severities 1-5.

Domains: ``clean`` (MNIST's official train and test splits) and ``<corruption>-<severity>`` for the
15 corruptions in the benchmark's standard order (CORRUPTIONS) and severities 1-5: MNIST's test
images corrupted once, a test split only (the stream protocol's). Images are 32x32 RGB in [-1, 1]
(the corruption code needs 32 px at least); ``test_images`` keeps the first N test images.

The corruptions are the `imagecorruptions` package's (Michaelis et al. 2019), the published
definitions and parameters of Hendrycks & Dietterich's code for ImageNet-C, with four repairs for
today's libraries that change no definition: its fog asks for NumPy 1's ``np.float_`` (given
``np.float64``); its glass blur passes scikit-image's removed
``multichannel`` argument (given as ``channel_axis`` here); its impulse noise calls scikit-image's
``random_noise``, which no longer reads numpy's global generator (it is handed a seed drawn from it,
so a seeded domain is reproducible); and it imports ``pkg_resources`` (setuptools < 82, the
``[corruptions]`` extra). Each domain is written once to
``$DABENCH_CACHE/digits_c/``, seeded per domain (numpy's global generator, as the package draws
from it), with a manifest of the parameters, the package versions and each file's sha256; a file
that no longer matches its manifest entry is written again.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import warnings
from types import SimpleNamespace

import numpy as np
import torch
from filelock import FileLock

from dabench.data.base import DATASETS, DomainDataset, cache_dir, make_cache_folder, tensor_dataset
from dabench.data.checksums import file_sha256
from dabench.data.digits import MNIST_FULL, Digits
from dabench.errors import DabenchError
from dabench.io import write_bytes_atomic, write_json_atomic

# Hendrycks & Dietterich's order: noise, blur, weather, digital.
CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
               "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
               "jpeg_compression")
SEVERITIES = (1, 2, 3, 4, 5)


def corruption_function():
    """imagecorruptions' `corrupt`, with its glass blur working on scikit-image >= 0.19."""
    try:
        with warnings.catch_warnings():  # its own import of pkg_resources warns on every run
            warnings.simplefilter("ignore", UserWarning)
            import imagecorruptions.corruptions as corruptions
            from imagecorruptions import corrupt
    except ImportError as err:
        raise DabenchError(f"digits_c needs the imagecorruptions package ({err}); pip install -e '.[corruptions]'") \
            from None
    import skimage
    from skimage.filters import gaussian
    from skimage.util import random_noise

    def channel_gaussian(image, sigma, multichannel=None, **options):
        return gaussian(image, sigma=sigma, channel_axis=-1 if multichannel else None, **options)

    def seeded_random_noise(image, **options):  # skimage draws from a fresh generator: seed it from numpy's
        return random_noise(image, rng=np.random.randint(2**31), **options)

    class NumpyWithFloat_:  # fog's plasma fractal asks for np.float_, which NumPy 2 renamed np.float64
        float_ = np.float64

        def __getattr__(self, name):
            return getattr(np, name)

    corruptions.np = NumpyWithFloat_()
    corruptions.gaussian = channel_gaussian
    corruptions.sk = SimpleNamespace(color=skimage.color, util=SimpleNamespace(random_noise=seeded_random_noise))
    return corrupt


def domain_seed(domain: str) -> int:
    return int(hashlib.sha256(domain.encode()).hexdigest()[:8], 16)


def corrupt_images(images: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> the same corrupted, image by image, numpy's global generator seeded first."""
    corrupt = corruption_function()
    np.random.seed(seed)
    return np.stack([np.uint8(corrupt(image, corruption_name=corruption, severity=severity)) for image in images])


@DATASETS.register("digits_c")
class DigitsC(DomainDataset):
    domains = ("clean", *[f"{c}-{s}" for c in CORRUPTIONS for s in SEVERITIES])
    num_classes = 10
    input_shape = (3, 32, 32)
    files = {f: digest for f, digest in Digits.files.items() if f.startswith("mnist/")}
    urls = {f: mirrors for f, mirrors in Digits.urls.items() if f.startswith("mnist/")}
    protocol = ("clean: MNIST's official train/test splits; <corruption>-<severity>: MNIST's test images corrupted "
                "once (imagecorruptions, seeded per domain), a test split only")
    citation = ("Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and "
                "Perturbations, ICLR 2019; LeCun et al. 1998 (MNIST)")
    licence = "MNIST: research use; the corruption code: Apache-2.0 (imagecorruptions)"

    def __init__(self, root=None, test_images: int | None = None):
        super().__init__(root)
        if test_images is not None and test_images < 1:
            raise DabenchError(f"digits_c: test_images must be at least 1, got {test_images}")
        self.test_images = test_images
        self.digits = Digits(root, image_size=32, channels=3)

    def check_domain(self, domain):
        if domain in self.domains:
            return
        corruption, _, severity = domain.rpartition("-")
        if corruption in CORRUPTIONS:
            raise DabenchError(f"digits_c: severity '{severity}' of {corruption} is not one of "
                               f"{', '.join(map(str, SEVERITIES))}; write e.g. {corruption}-5")
        raise DabenchError(f"digits_c: unknown corruption '{corruption or domain}'; domains are clean and "
                           f"<corruption>-<severity 1-5> for the corruptions {', '.join(CORRUPTIONS)}")

    def domain_files(self, domain):
        return self.digits.domain_files("mnist") if domain == "clean" else list(MNIST_FULL["test"])

    def load(self, domain, split):
        self.check_domain(domain)
        if domain != "clean" and split != "test":
            raise DabenchError(f"digits_c: the corrupted domain {domain} has a test split only (the stream "
                               f"protocol's); train the source model on `clean`")
        clean = self.digits.load("mnist", split)
        self.used_files.update(self.digits.used_files)
        x, y = clean.tensors
        if split == "test" and self.test_images is not None:
            x, y = x[:self.test_images], y[:self.test_images]
        if domain == "clean":
            return tensor_dataset(x, y)
        images = self.corrupted(domain, x)
        return tensor_dataset(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0, y)

    def corrupted(self, domain: str, clean: torch.Tensor) -> np.ndarray:
        """(N, 32, 32, 3) uint8: domain's corrupted test images, from the cache or written there now."""
        folder = make_cache_folder(cache_dir() / "digits_c")
        name = f"{domain}-first{len(clean)}.npy"
        with FileLock(str(folder / "lock")):
            manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() \
                else {"corruptions": "imagecorruptions " + importlib.metadata.version("imagecorruptions"),
                      "scikit-image": importlib.metadata.version("scikit-image"),
                      "source": "MNIST t10k test images, bilinear to 32x32, grey to RGB", "files": {}}
            entry = manifest["files"].get(name)
            path = folder / name
            if entry is not None and path.exists() and file_sha256(path) == entry["sha256"]:
                return np.load(path)
            corruption, severity = domain.rsplit("-", 1)
            uint8 = ((clean.permute(0, 2, 3, 1) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
            images = corrupt_images(uint8, corruption, int(severity), domain_seed(domain))
            buffer = io.BytesIO()
            np.save(buffer, images)
            write_bytes_atomic(buffer.getvalue(), path)
            manifest["files"][name] = {"corruption": corruption, "severity": int(severity),
                                       "seed": domain_seed(domain), "images": len(images), "sha256": file_sha256(path)}
            write_json_atomic(manifest, folder / "manifest.json")
            return images
