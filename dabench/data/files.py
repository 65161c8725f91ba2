"""Image datasets read from disk on demand: Office-31, Office-Home, VisDA, DomainNet, your folders.

A domain split is a list of (image path, label). ``ImageFiles`` stands in for the
(N, 3, size, size) input tensor: indexing it decodes just those images, so a dataset of any
size costs memory for its file names only. Preprocessing follows TLlib (see the
``ImagePolicy`` fields); training streams apply the random training view, evaluation the
deterministic one. Augmentation draws its randomness from (seed, position in the batch), so
a batch depends on the step number only and resumed runs stay bit-identical.
"""
from __future__ import annotations

import functools
import itertools
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dabench.data.decoded import decoded
from dabench.data.prefetch import prefetched
from dabench.errors import DabenchError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALIZATIONS = ("imagenet", "unit")
UNIT = ((0.5,), (0.5,))  # "unit": pixels in [0, 1] to [-1, 1], (mean, std) for any number of channels
TRAIN_RESIZINGS = ("ran.crop", "cen.crop", "res.")
DECODES = ("auto", "per_batch", "once")
AUTO_ONCE_MAX_IMAGES = 40_000  # decode: auto decodes a split once on CUDA up to this size (~10 GB of uint8)


@dataclass(frozen=True)
class ImagePolicy:
    """How an image file becomes a (3, image_size, image_size) float tensor.

    - test view: resize the shorter side to ``resize_size``, centre-crop ``image_size``
      (``res.``: resize straight to image_size x image_size, for small images such as digits).
    - train view by ``train_resizing``: ``ran.crop`` = RandomResizedCrop(image_size) of the
      resized image (TLlib's default), ``cen.crop`` = the test view (TLlib's VisDA setting),
      ``res.`` = the test view; then a random horizontal flip if ``flip``.
    - ``normalization``: "imagenet" (torchvision weights' mean/std) or "unit" ([-1, 1], what
      EfficientNet-Lite and the digit backbones expect).
    - ``decode``: "per_batch" decodes every batch's files with PIL (in loader workers) and ships
      uint8; "once" decodes a split once and augments batches on the device
      (dabench.data.decoded); "auto" is "once" on CUDA for splits of up to AUTO_ONCE_MAX_IMAGES
      images (Office-31, Office-Home, ImageCLEF) and "per_batch" otherwise (the CPU, VisDA, DomainNet).
    """

    image_size: int = 224
    resize_size: int = 256
    train_resizing: str = "ran.crop"
    flip: bool = True
    normalization: str = "imagenet"
    decode: str = "auto"

    def __post_init__(self):
        if self.train_resizing not in TRAIN_RESIZINGS:
            raise DabenchError(f"unknown train_resizing '{self.train_resizing}'; known: {', '.join(TRAIN_RESIZINGS)}")
        if self.normalization not in NORMALIZATIONS:
            raise DabenchError(f"unknown normalization '{self.normalization}'; known: {', '.join(NORMALIZATIONS)}")
        if self.decode not in DECODES:
            raise DabenchError(f"unknown decode '{self.decode}'; known: {', '.join(DECODES)}")
        if self.train_resizing != "res." and self.resize_size < self.image_size:
            raise DabenchError(f"resize_size {self.resize_size} < image_size {self.image_size}: the centre crop "
                               f"would pad; use resize_size >= image_size")

    def geometry(self) -> tuple[int, int, bool]:
        """What a decoded-once image depends on: (resize_size, image_size, resized straight to the square)."""
        return self.resize_size, self.image_size, self.train_resizing == "res."

    def resizing(self):
        """The deterministic first step of both views: the shorter side to resize_size (res.: the square)."""
        from torchvision.transforms import v2

        size = self.image_size
        return v2.Resize((size, size) if self.train_resizing == "res." else self.resize_size, antialias=True)

    def transform(self, train: bool):
        """PIL image -> (3, image_size, image_size) uint8 in the train or test view (``normalize`` follows)."""
        from torchvision.transforms import v2

        steps = [v2.PILToTensor(), self.resizing()]
        if self.train_resizing != "res.":
            random_crop = train and self.train_resizing == "ran.crop"
            size = self.image_size
            steps.append(v2.RandomResizedCrop(size, antialias=True) if random_crop else v2.CenterCrop(size))
        if train and self.flip:
            steps.append(v2.RandomHorizontalFlip())
        return v2.Compose(steps)

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (mean, std) of ``normalization``, on pixel values in [0, 1]."""
        return (IMAGENET_MEAN, IMAGENET_STD) if self.normalization == "imagenet" else UNIT

    def normalize(self, images: Tensor) -> Tensor:
        """(..., 3, H, W) uint8 (or float in [0, 1]) -> float32 normalised by ``normalization``, on their device."""
        from torchvision.transforms.v2 import functional

        return functional.normalize(functional.to_dtype(images, torch.float32, scale=True), *self.mean_std)

    def decode_resized(self, path: str) -> Tensor:
        """(3, h, w) uint8: the file at `path` after ``resizing``, the part both views share."""
        from torchvision.transforms import v2

        return read_rgb(path, v2.Compose([v2.PILToTensor(), self.resizing()]))


def read_rgb(path: str, transform) -> Tensor:
    """`transform` of the image file at `path` in RGB; an unreadable file is named in a one-line error."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return transform(image.convert("RGB"))
    except Image.DecompressionBombError as err:
        raise DabenchError(f"image {path} is refused as a decompression bomb ({err}); delete it, or raise "
                           f"PIL.Image.MAX_IMAGE_PIXELS if it is a real image that large") from None
    except OSError as err:
        raise DabenchError(f"cannot read image {path} ({err}); re-extract the dataset or run "
                           f"`dabench data verify`") from None


class ImageFiles:
    """A lazy (N, 3, size, size) image tensor backed by files.

    ``files[idx]`` (indices, a list or a slice) reads those images in the test view;
    ``read(idx, seed)`` in this object's view (``training_view()`` gives the augmented one).
    ``select``/``to`` return new views; ``workers`` > 0 decodes in background processes
    when the loaders iterate (``InfiniteBatches``, ``chunks``), which ship uint8 to the device
    and normalise there. With ``decodes_once`` the images come from a store decoded once on
    the device instead (dabench.data.decoded).
    """

    def __init__(self, paths: list[str], policy: ImagePolicy, train: bool = False,
                 device: str | torch.device = "cpu", workers: int = 0):
        self.paths, self.policy, self.train = paths, policy, train
        self.device, self.workers = torch.device(device), workers
        # The decoded-once store and each image's row in it, found at the first read.
        self._transform, self._store, self._rows = None, None, None
        self._test_loader = None  # (batch size, DataLoader whose workers persist between evaluations)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), 3, self.policy.image_size, self.policy.image_size)

    def _view(self, **changes) -> ImageFiles:
        fields = {"paths": self.paths, "policy": self.policy, "train": self.train, "device": self.device,
                  "workers": self.workers, **changes}
        return ImageFiles(**fields)

    @staticmethod
    def concat(parts: list[ImageFiles]) -> ImageFiles:
        """The files of `parts` one after the other, in the first part's view (one dataset, one policy)."""
        return parts[0]._view(paths=[path for part in parts for path in part.paths])

    def select(self, idx: Tensor) -> ImageFiles:
        return self._view(paths=[self.paths[i] for i in idx.tolist()])

    def to(self, device) -> ImageFiles:
        return self._view(device=device)

    def training_view(self) -> ImageFiles:
        return self._view(train=True)

    @property
    def decodes_once(self) -> bool:
        """Whether this view reads from images decoded once on its device (``ImagePolicy.decode``)."""
        auto = self.device.type == "cuda" and len(self) <= AUTO_ONCE_MAX_IMAGES
        return self.policy.decode == "once" or (self.policy.decode == "auto" and auto)

    def decode(self, idx, seed: int = 0) -> Tensor:
        """Decode images `idx` one by one on the CPU into a uint8 (n, 3, size, size) batch in this view.

        The random training view of position i uses torch seed (seed, i), so the same
        (idx, seed) always gives the same batch, in any process.
        """
        if self._transform is None:
            self._transform = self.policy.transform(self.train)
        positions = range(len(self))[idx] if isinstance(idx, slice) else (
            idx.tolist() if isinstance(idx, Tensor) else list(idx))
        images = []
        with torch.random.fork_rng(devices=[]):  # restores the CPU generator, the only one reseeded here
            for i, position in enumerate(positions):
                # Not torch.manual_seed: it would also reseed every CUDA generator, which fork_rng(devices=[])
                # does not restore, so a training step's dropout would depend on which images were read.
                torch.default_generator.manual_seed(seed * 1_000_003 + i)
                images.append(read_rgb(self.paths[position], self._transform))
        return torch.stack(images)

    def read(self, idx, seed: int = 0) -> Tensor:
        """Images `idx` (indices, a list or a slice) as a normalised float32 (n, 3, size, size) batch on this
        view's device, in this view (train or test), either decoded now or from the decoded-once store."""
        if not self.decodes_once:
            return self.policy.normalize(self.decode(idx, seed).to(self.device))
        if self._store is None:
            self._store = decoded(self.paths, self.policy, self.device, self.workers)
            self._rows = torch.tensor([self._store.row[path] for path in self.paths], device=self.device)
        store = self._store
        positions = torch.arange(len(self))[idx] if isinstance(idx, slice) else torch.as_tensor(idx)
        rows = self._rows[positions.to(self.device, non_blocking=True)]
        size = self.policy.image_size
        if not self.train:
            return self.policy.normalize(store.test_view(rows, size))
        generator = torch.Generator(self.device).manual_seed(seed)
        flip = torch.rand(len(rows), device=self.device, generator=generator) < (0.5 if self.policy.flip else 0.0)
        if self.policy.train_resizing == "ran.crop":
            return self.policy.normalize(store.random_resized_crop(rows, size, flip, generator))
        return self.policy.normalize(store.test_view(rows, size, flip))

    def __getitem__(self, idx) -> Tensor:
        return self.read(idx)

    def __getstate__(self):  # the transform is rebuilt in worker processes
        return {**self.__dict__, "_transform": None, "_store": None, "_rows": None, "_test_loader": None}

    def test_chunks(self, batch_size: int) -> torch.utils.data.DataLoader:
        """Consecutive uint8 chunks of `batch_size` images in the test view, decoded by `workers` processes that
        stay alive between calls (an evaluation every few hundred steps does not restart them)."""
        if self._test_loader is None or self._test_loader[0] != batch_size:
            decode = functools.partial(decode_chunk, self._view(), batch_size)  # a copy: no reference cycle
            loader = prefetched(decode, range(0, len(self), batch_size), self.workers,
                                pin_memory=self.device.type == "cuda", persistent=True)
            self._test_loader = (batch_size, loader)
        return self._test_loader[1]


# The ImageFiles behind each HiddenImages, kept out of the object a method is handed.
_HIDDEN: dict[int, ImageFiles] = {}


class HiddenImages:
    """Images as a method sees them (``Method.begin``): a lazy (N, 3, H, W) tensor without its file paths.

    Paths name the class folder (``.../webcam/bike/frame_0001.jpg``), i.e. the label, so the
    object holds none: only its length, shape and device. ``chunks(images, b)`` decodes it.
    """

    def __init__(self, files: ImageFiles):
        self._key = id(self)
        _HIDDEN[self._key] = files
        weakref.finalize(self, _HIDDEN.pop, self._key, None)
        self.shape, self.device, self._length = files.shape, files.device, len(files)
        self.mean_std = files.policy.mean_std

    def __len__(self) -> int:
        return self._length

    def __reduce__(self):
        raise TypeError("HiddenImages cannot be pickled: it stands for files a method must not see")


def pixel_mean_std(inputs) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) that map model image inputs (N, C, H, W) back to pixels in [0, 1]: an image-file
    dataset's ``normalization``; the tensor image datasets (digits, COIL-20) are in [-1, 1] (``UNIT``, one value
    for every channel)."""
    return inputs.mean_std if isinstance(inputs, HiddenImages) else UNIT


def chunks(x, batch_size: int):
    """Consecutive (b, ...) slices of a tensor, ImageFiles or HiddenImages (test view), on its device."""
    if isinstance(x, HiddenImages):
        x = _HIDDEN[x._key]
    if isinstance(x, Tensor):
        yield from x.split(batch_size)
        return
    starts = range(0, len(x), batch_size)
    if x.decodes_once or x.workers == 0:
        yield from (x.read(slice(start, start + batch_size)) for start in starts)
        return
    for batch in x.test_chunks(batch_size):
        yield x.policy.normalize(batch.to(x.device, non_blocking=True))


def decode_chunk(files: ImageFiles, batch_size: int, start: int) -> Tensor:
    """Images start..start + batch_size - 1 in the test view, uint8: a module-level function, so that loader
    workers started with spawn or forkserver (which pickle it; a lambda cannot be) can run it."""
    return files.decode(slice(start, start + batch_size))


class StepReader:
    """The batch at step k of an image stream: normalised float32 on the files' device.

    `indices(step)` gives the batch's sample indices (a pure function of the step); the
    augmentation seed is (seed, step). Decoded-once images are read in the step; otherwise
    DataLoader workers decode the batches ahead, in order, and ship them as uint8. Asking for
    any step other than the next one restarts the prefetching there (a resumed run).
    """

    def __init__(self, files: ImageFiles, indices, seed: int):
        self.files, self.indices, self.seed = files, indices, seed
        self._next, self._iterator = None, None

    def __call__(self, step: int, idx: Tensor) -> Tensor:
        """Batch `step`, whose sample indices `idx` (B,) are on the files' device."""
        files = self.files
        if files.decodes_once or files.workers == 0:
            return files.read(idx if files.decodes_once else self.indices(step), self.seed * 1_000_003 + step)
        if step != self._next:
            pin = files.device.type == "cuda"
            # A module-level function of what it reads, not a bound method: the loader would otherwise hold
            # this reader in a reference cycle, and a loader freed by the cycle collector waits seconds for
            # each of its workers to exit.
            decode = functools.partial(decode_step, files, self.indices, self.seed)
            self._iterator = iter(prefetched(decode, itertools.count(step), files.workers, pin))
        self._next = step + 1
        return files.policy.normalize(next(self._iterator).to(files.device, non_blocking=True))

    def __getstate__(self):  # workers get the reader without the parent's iterator
        return {**self.__dict__, "_iterator": None, "_next": None}


def decode_step(files: ImageFiles, indices, seed: int, step: int) -> Tensor:
    """The uint8 batch of `step` (samples `indices(step)`, augmentation seed (seed, step)), in a loader worker."""
    return files.decode(indices(step), seed * 1_000_003 + step)


@dataclass(frozen=True)
class ImageSplit:
    """What ``ImageListDataset.load`` returns: lazy inputs and labels, as ``.tensors``."""

    files: ImageFiles
    labels: Tensor

    @property
    def tensors(self) -> tuple[ImageFiles, Tensor]:
        return self.files, self.labels

    def __len__(self) -> int:
        return len(self.labels)


def read_image_list(list_file: Path, image_root: Path) -> tuple[list[str], list[int]]:
    """Parse an image-list file (``path label`` per line, the published DA code's format);
    paths are relative to `image_root`."""
    paths, labels = [], []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DabenchError(f"{list_file}:{number}: expected 'path label', got {line!r}")
        paths.append(str(image_root / parts[0]))
        labels.append(int(parts[1]))
    return paths, labels


def scan_class_folders(folder: Path, class_names: tuple[str, ...], extensions: tuple[str, ...] | None = None
                       ) -> tuple[list[str], list[int]]:
    """Files under folder/<class name>/ (torchvision's ImageFolder layout) with one of `extensions`
    (default: the image ones), labels by class_names order."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    present = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise DabenchError(f"{folder} has class folders {', '.join(unknown[:5])} that the dataset does not declare; "
                           f"declared: {', '.join(class_names[:10])}...")
    class_to_idx = {name: i for i, name in enumerate(class_names) if name in present}
    samples = make_dataset(str(folder), class_to_idx, extensions=extensions or IMG_EXTENSIONS, allow_empty=True)
    return [path for path, _ in samples], [label for _, label in samples]
