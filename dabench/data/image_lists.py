"""ImageListDataset: the standard DA image benchmarks, images on disk loaded lazily.

Archives, mirrors, checksums and counts are a ``FileListDataset``'s (dabench.data.archives).
A subclass lists its images per domain (or ``"domain/split"``) either as an image-list file
(``image_lists``; its paths are relative to ``list_root``, by default the list file's own
folder) or as a class-folder directory (``class_folders``, labels from ``class_names``).
"""
from __future__ import annotations

import torch

from dabench.data.archives import FileListDataset
from dabench.data.files import ImageFiles, ImagePolicy, ImageSplit, read_image_list, scan_class_folders


class ImageListDataset(FileListDataset):
    """Images on disk, loaded lazily (see dabench.data.files).

    Keyword arguments (the config's ``dataset`` section) set the preprocessing, an
    ``ImagePolicy``: image_size, resize_size, train_resizing, flip, normalization, decode;
    ``workers``, the processes that decode images (the result does not depend on it); and
    ``test_fraction``/``split_seed`` (see ``FileListDataset``).
    """

    image_lists: dict[str, str] = {}
    list_root: str | None = None
    class_folders: dict[str, str] = {}

    def __init__(self, root=None, image_size: int = 224, resize_size: int = 256, train_resizing: str = "ran.crop",
                 flip: bool = True, normalization: str = "imagenet", decode: str = "auto", workers: int = 4,
                 test_fraction: float = 0.0, split_seed: int = 0):
        super().__init__(root, test_fraction, split_seed)
        self.policy = ImagePolicy(image_size, resize_size, train_resizing, flip, normalization, decode)
        self.workers = workers
        self.input_shape = (3, image_size, image_size)

    def samples(self, key: str) -> tuple[list[str], list[int]]:
        """(image paths, labels) of a "domain" or "domain/split" key, from its list or class folders."""
        if key in self.image_lists:
            list_file = self.directory / self.image_lists[key]
            image_root = list_file.parent if self.list_root is None else self.directory / self.list_root
            return read_image_list(list_file, image_root)
        domain = key.split("/")[0]
        return scan_class_folders(self.directory / self.class_folders[domain], self.class_names)

    def load(self, domain, split):
        paths, labels = self.split_samples(domain, split)
        files = ImageFiles(paths, self.policy, workers=self.workers)
        return ImageSplit(files, torch.tensor(labels, dtype=torch.int64))
