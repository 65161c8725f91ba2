"""Your own domains: ``{name: folder, path: /data/mine}`` for images, ``{name: audio_folder, ...}``
for audio clips.

``path`` holds one folder per domain with one sub-folder per class
(``<path>/<domain>/<class>/<file>``, torchvision's ImageFolder layout), or, for images, one
image-list file per domain (``<path>/<domain>.txt`` with ``relative/path.jpg <label>`` lines,
the format of the published DA code, paths relative to ``path``). Classes are the sorted union
of the class folders (or ``class_names``, in label order). Protocol: transductive, like
Office-31, or with ``test_fraction`` a held-out test split whose split files are read from
``path/.splits`` if present, else drawn and saved in the cache.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from dabench.data.audio import AUDIO_EXTENSIONS, AudioListDataset, read_wave
from dabench.data.base import DATASETS, cache_dir
from dabench.data.files import scan_class_folders
from dabench.data.image_lists import ImageListDataset
from dabench.errors import DabenchError


def data_folder(path: str, dataset: str) -> Path:
    if not path or not Path(path).expanduser().is_dir():
        raise DabenchError(f"dataset '{dataset}' needs path=<a folder of domains>, got '{path}'; set dataset.path")
    return Path(path).expanduser()


def domain_folders(path: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")))


def class_folders_of(path: Path, domains) -> tuple[str, ...]:
    return tuple(sorted({c.name for d in domains for c in (path / d).iterdir() if c.is_dir()}))


class LocalFolder:
    """What the user's own folders share: the data is ``self.path`` itself, with nothing to download."""

    path: Path

    @property
    def directory(self) -> Path:
        return self.path

    @property
    def split_folders(self) -> list[Path]:
        """A `.splits` folder beside the data is read if present; new split files go to the cache, in a
        folder named after the data folder's path."""
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]
        return [self.path / ".splits", cache_dir() / "splits" / f"folder-{self.path.name}-{digest}"]

    def missing_files(self, domain):
        return []

    def repair_hint(self) -> str:
        return f"replace or delete them in your folder {self.path}"


def decode_all(paths: list[str], decode, errors: tuple[type[Exception], ...], kind: str, folder: Path) -> list[str]:
    """One line per file that `decode` cannot read (your own folder has no published checksums,
    so reading each file is the check)."""
    from tqdm.auto import tqdm

    problems = []
    for path in tqdm(paths, desc=f"decoding {folder}", unit=kind, leave=False):
        try:
            decode(path)
        except errors as err:
            problems.append(f"{path}: not a readable {kind} ({' '.join(str(err).split())})")
    if not paths:
        problems.append(f"{folder}: no {kind} files found under its domain folders")
    return problems


@DATASETS.register("folder")
class Folder(LocalFolder, ImageListDataset):
    def __init__(self, root=None, path: str = "", class_names: list[str] | None = None, **policy):
        super().__init__(root, **policy)
        self.path = data_folder(path, "folder")
        lists = sorted(self.path.glob("*.txt"))
        if lists:
            self.image_lists = {p.stem: p.name for p in lists}
            self.list_root = "."
            self.domains = tuple(self.image_lists)
        else:
            self.domains = domain_folders(self.path)
            self.class_folders = {d: d for d in self.domains}
        if not self.domains:
            raise DabenchError(f"{self.path} holds no domain folders and no <domain>.txt image lists")
        self.class_names = tuple(class_names or class_folders_of(self.path, self.class_folders))
        if not self.class_names:
            labels = {int(line.split()[-1]) for p in lists for line in p.read_text().splitlines() if line.strip()}
            self.class_names = tuple(str(i) for i in range(max(labels) + 1))
        self.num_classes = len(self.class_names)

    def verify(self) -> list[str]:
        """Decode every image of every domain once; one line per image that cannot be read."""
        from PIL import Image

        def decode(path):
            with Image.open(path) as image:
                image.convert("RGB")

        paths = [p for domain in self.domains for key in self.keys(domain) for p in self.samples(key)[0]]
        return decode_all(paths, decode, (OSError, ValueError, Image.DecompressionBombError), "image", self.path)


@DATASETS.register("audio_folder")
class AudioFolder(LocalFolder, AudioListDataset):
    """Audio clips in ``<path>/<domain>/<class>/*.wav`` (or .flac, .ogg), resampled to
    ``sample_rate`` and centred in ``seconds``: inputs (1, sample_rate * seconds) for ``kws_cnn``."""

    def __init__(self, root=None, path: str = "", class_names: list[str] | None = None, sample_rate: int = 16_000,
                 seconds: float = 1.0, test_fraction: float = 0.0, split_seed: int = 0):
        self.path = data_folder(path, "audio_folder")
        self.domains = domain_folders(self.path)
        if not self.domains:
            raise DabenchError(f"{self.path} holds no domain folders (<domain>/<class>/<clip>.wav)")
        self.class_names = tuple(class_names or class_folders_of(self.path, self.domains))
        super().__init__(root, sample_rate, seconds, test_fraction, split_seed)
        self.num_classes = len(self.class_names)

    def samples(self, key):
        return scan_class_folders(self.path / key.split("/")[0], self.class_names, AUDIO_EXTENSIONS)

    def verify(self) -> list[str]:
        """Decode every clip of every domain once; one line per clip that cannot be read."""
        paths = [p for domain in self.domains for p in self.samples(domain)[0]]
        return decode_all(paths, lambda p: read_wave(p, self.sample_rate), (DabenchError,), "audio", self.path)
