"""Your own domains: ``{name: folder, path: /data/mine}``.

``path`` holds either one folder per domain with one sub-folder per class (torchvision's
ImageFolder layout: ``<path>/<domain>/<class>/<image>``) or one image-list file per domain
(``<path>/<domain>.txt`` with ``relative/path.jpg <label>`` lines, the format of the published
DA code, paths relative to ``path``). Classes are the sorted union of the class folders (or
``class_names``, in label order). Protocol: transductive, like Office-31, or with
``test_fraction`` a held-out test split whose split files are read from ``path/.splits`` if present, else drawn and saved in the cache.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from dabench.data.base import DATASETS, cache_dir
from dabench.data.image_lists import ImageListDataset
from dabench.errors import DabenchError


@DATASETS.register("folder")
class Folder(ImageListDataset):
    def __init__(self, root=None, path: str = "", class_names: list[str] | None = None, **policy):
        super().__init__(root, **policy)
        self.path = Path(path).expanduser()
        if not path or not self.path.is_dir():
            raise DabenchError(f"dataset 'folder' needs path=<a folder of domains>, got '{path}'; set dataset.path")
        lists = sorted(self.path.glob("*.txt"))
        if lists:
            self.image_lists = {p.stem: p.name for p in lists}
            self.list_root = "."
            self.domains = tuple(self.image_lists)
        else:
            self.domains = tuple(sorted(p.name for p in self.path.iterdir() if p.is_dir() and not p.name.startswith(".")))
            self.class_folders = {d: d for d in self.domains}
        if not self.domains:
            raise DabenchError(f"{self.path} holds no domain folders and no <domain>.txt image lists")
        found = sorted({c.name for d in self.class_folders for c in (self.path / d).iterdir() if c.is_dir()})
        self.class_names = tuple(class_names or found)
        if not self.class_names:
            labels = {int(line.split()[-1]) for p in lists for line in p.read_text().splitlines() if line.strip()}
            self.class_names = tuple(str(i) for i in range(max(labels) + 1))
        self.num_classes = len(self.class_names)

    @property
    def directory(self) -> Path:
        return self.path

    @property
    def split_folders(self) -> list[Path]:
        """A `.splits` folder beside the images is read if present; new split files go to the cache,
        in a folder named after this data folder's path."""
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]
        return [self.path / ".splits", cache_dir() / "splits" / f"folder-{self.path.name}-{digest}"]

    def missing_files(self, domain):
        return []

    def verify(self) -> list[str]:
        """Decode every image of every domain once; one line per image that cannot be read.

        Your own folder has no published checksums, so reading each file is the check."""
        from PIL import Image
        from tqdm.auto import tqdm

        paths = [p for domain in self.domains for key in self.keys(domain) for p in self.samples(key)[0]]
        problems = []
        for path in tqdm(paths, desc=f"decoding {self.path}", unit="img", leave=False):
            try:
                with Image.open(path) as image:
                    image.convert("RGB")
            except (OSError, ValueError, Image.DecompressionBombError) as err:
                problems.append(f"{path}: not a readable image ({' '.join(str(err).split())})")
        if not paths:
            problems.append(f"{self.path}: no images found under its domain folders")
        return problems
