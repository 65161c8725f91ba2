"""Datasets of clean images and the same test images under the 15 common corruptions of Hendrycks & Dietterich
(ICLR 2019) at severities 1-5, made offline: the machinery ``digits_c`` and ``coil20_c`` share.

Domains: ``clean`` (a train and a test split) and ``<corruption>-<severity>`` for the 15 corruptions in the
benchmark's standard order (CORRUPTIONS) and severities 1-5: the clean test images corrupted once, a test split
only (the stream protocol's). Images are 32x32 RGB in [-1, 1] (the corruption code needs 32 px at least).

The corruptions are the `imagecorruptions` package's (Michaelis et al. 2019), the published
definitions and parameters of Hendrycks & Dietterich's code for ImageNet-C, with four repairs for
today's libraries that change no definition: its fog asks for NumPy 1's ``np.float_`` (given
``np.float64``); its glass blur passes scikit-image's removed
``multichannel`` argument (given as ``channel_axis`` here); its impulse noise calls scikit-image's
``random_noise``, which no longer reads numpy's global generator (it is handed a seed drawn from it,
so a seeded domain is reproducible); and it imports ``pkg_resources`` (setuptools < 82, the
``[corruptions]`` extra). Each domain is written once to ``$DABENCH_CACHE/<dataset>/``, seeded per
domain (numpy's global generator, as the package draws from it), with a manifest of the parameters, the
package versions and each file's sha256; a file that no longer matches its manifest entry is written again.
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

from dabench.data.base import DomainDataset, cache_dir, make_cache_folder, tensor_dataset
from dabench.data.checksums import file_sha256
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


def check_corrupted_domain(dataset: DomainDataset, domain: str, corruptions: tuple[str, ...] = CORRUPTIONS,
                           severities: tuple[int, ...] = SEVERITIES) -> None:
    """A one-line error naming the unknown corruption or the severity out of range."""
    if domain in dataset.domains:
        return
    corruption, _, severity = domain.rpartition("-")
    if corruption in corruptions:
        raise DabenchError(f"{dataset.name}: severity '{severity}' of {corruption} is not one of "
                           f"{', '.join(map(str, severities))}; write e.g. {corruption}-{severities[-1]}")
    raise DabenchError(f"{dataset.name}: unknown corruption '{corruption or domain}'; domains are "
                       f"{'clean and ' if 'clean' in dataset.domains else ''}<corruption>-<severity "
                       f"{severities[0]}-{severities[-1]}> for the corruptions {', '.join(corruptions)}")


def check_test_split(dataset: DomainDataset, domain: str, split: str) -> None:
    """A one-line error for a corrupted domain's train split: they are streams, the source trains on `clean`."""
    if domain != "clean" and split != "test":
        raise DabenchError(f"{dataset.name}: the corrupted domain {domain} has a test split only (the stream "
                           f"protocol's); train the source model on `clean`")


def alternate_split(labels: torch.Tensor, split: str, num_classes: int) -> torch.Tensor:
    """Indices of `split` in a per-class alternation by file order: each class's even-numbered samples are train,
    its odd-numbered ones test; sorted."""
    first = 1 if split == "test" else 0
    return torch.cat([torch.nonzero(labels == c).squeeze(1)[first::2] for c in range(num_classes)]).sort().values


class CorruptedImages(DomainDataset):
    """Base: `clean` and its test images corrupted. A subclass gives `clean_split(split)`, (N, 3, 32, 32) images in
    [-1, 1] and (N,) labels, and `source` (how those images were made, for the manifest)."""

    domains = ("clean", *[f"{c}-{s}" for c in CORRUPTIONS for s in SEVERITIES])
    input_shape = (3, 32, 32)
    source = ""

    def clean_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def cache_name(self) -> str:
        """The cache folder's name: one per set of clean images (one manifest each)."""
        return self.name

    def check_domain(self, domain):
        check_corrupted_domain(self, domain)

    def load(self, domain, split):
        self.check_domain(domain)
        check_test_split(self, domain, split)
        x, y = self.clean_split(split)
        if domain == "clean":
            return tensor_dataset(x, y)
        images = self.corrupted(domain, x)
        return tensor_dataset(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0, y)

    def corrupted(self, domain: str, clean: torch.Tensor) -> np.ndarray:
        """(N, 32, 32, 3) uint8: domain's corrupted test images, from the cache or written there now."""
        folder = make_cache_folder(cache_dir() / self.cache_name())
        name = f"{domain}-first{len(clean)}.npy"
        with FileLock(str(folder / "lock")):
            manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() \
                else {"corruptions": "imagecorruptions " + importlib.metadata.version("imagecorruptions"),
                      "scikit-image": importlib.metadata.version("scikit-image"),
                      "source": self.source, "files": {}}
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
