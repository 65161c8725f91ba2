"""DomainDataset, the DATASETS registry, the data root and checksum-verified file access."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from dabench.data.checksums import file_sha256, file_status
from dabench.errors import DabenchError
from dabench.registry import Registry

DATASETS = Registry("dataset", "dabench.data")
SPLITS = ("train", "test")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder datasets live in: `root` if given, else $DABENCH_DATA, else ~/.cache/dabench."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("DABENCH_DATA"):
        return Path(os.environ["DABENCH_DATA"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dabench"


def cache_dir() -> Path:
    """Where dabench keeps what it computes (first-stage source models, drawn split files, text
    embeddings): $DABENCH_CACHE, else ~/.cache/dabench-runs. Never the data root, which may be
    read-only and shared."""
    if os.environ.get("DABENCH_CACHE"):
        return Path(os.environ["DABENCH_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dabench-runs"


def make_cache_folder(path: Path) -> Path:
    """mkdir -p `path`, a folder of the cache (see `cache_dir`); a one-line error naming $DABENCH_CACHE if it
    cannot be created."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DabenchError(f"cannot create {path} ({err.strerror}); dabench keeps what it computes under "
                           f"$DABENCH_CACHE (now {cache_dir()}): set DABENCH_CACHE to a writable folder") from None
    return path


class DomainDataset:
    """A set of domains that share one label space.

    Subclasses declare what they read and implement ``load``:

    - ``domains``, ``num_classes``, ``input_shape`` (C, H, W) or (D,).
    - ``files``: path relative to the data root -> its digest (see ``matches``);
      ``urls``: path -> mirrors in order.
    - ``protocol``: how train/test splits are defined, recorded in every result;
      ``metric``: "accuracy" or "mean_class_accuracy", how target accuracy is computed;
      ``transductive``: True when a domain's train and test splits are the same samples.
    - ``load(domain, split)`` returns a TensorDataset of (x float32, y int64), split in
      {"train", "test"}; read files through ``self.path(...)`` so each one is verified.

    Constructor keyword arguments are the dataset's preprocessing options (resize policy...);
    they come verbatim from the config's ``dataset`` section and are recorded in results.
    """

    domains: tuple[str, ...] = ()
    num_classes: int = 0
    input_shape: tuple[int, ...] = ()
    files: dict[str, str | tuple[str, ...]] = {}
    urls: dict[str, list[str]] = {}
    protocol: str = ""
    transductive: bool = False  # True: a domain's "train" and "test" splits are the same samples
    metric: str = "accuracy"  # or "mean_class_accuracy" (VisDA-2017): what target accuracy means
    citation: str = ""  # shown by `dabench list datasets`
    licence: str = ""
    modality: str = "images"  # or "features", "text", "audio", "synthetic": how the results gallery groups it
    registered_name: str = ""  # set by @DATASETS.register

    @property
    def name(self) -> str:
        return self.registered_name

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = data_root(root)
        self.used_files: dict[str, str] = {}

    def domain_files(self, domain: str) -> list[str]:
        """Files that `domain` needs (default: all declared files)."""
        return list(self.files)

    def downloadable(self) -> bool:
        """Whether `dabench data download` can fetch the files: some file has a URL."""
        return bool(self.urls)

    def fetch_command(self) -> str:
        """How a user gets the missing files: the download command, or the import of files fetched by
        hand when the dataset has no direct link."""
        if self.downloadable():
            return f"`dabench data download {self.name}`"
        return f"`dabench data import {self.name} PATH` on the files obtained by hand (no direct link exists)"

    def repair_hint(self) -> str:
        """What to do about the files `verify` reports."""
        return f"delete them and run {self.fetch_command()}"

    def path(self, relpath: str) -> Path:
        """Absolute path of a declared file after checking that it is present and intact."""
        path = self.root / relpath
        status = file_status(path, self.files[relpath])
        if status == "missing":
            raise DabenchError(f"{self.name}: missing {relpath} under data root {self.root}; run "
                               f"{self.fetch_command()} or set DABENCH_DATA to a folder that holds it")
        if status.startswith("bad:"):
            expected = self.files[relpath]
            expected = expected if isinstance(expected, str) else " or ".join(expected)
            raise DabenchError(f"{self.name}: {path} has sha256 {status[4:]}, expected {expected}; "
                               f"the file is corrupt or another version: delete it and run "
                               f"`dabench data download {self.name}`")
        self.used_files[relpath] = file_sha256(path)
        return path

    def check_domain(self, domain: str) -> None:
        if domain not in self.domains:
            raise DabenchError(f"dataset '{self.name}' has no domain '{domain}'; its domains: {', '.join(self.domains)}")

    def missing_files(self, domain: str) -> list[str]:
        """Declared files a run needs and cannot write itself (a run refuses to start without them)."""
        return [f for f in self.domain_files(domain) if not (self.root / f).is_file()]

    def present(self, domain: str) -> bool:
        """Whether the domain's data is on disk now; a generated dataset is absent until first written."""
        return not self.missing_files(domain)

    def load(self, domain: str, split: str) -> TensorDataset:
        raise NotImplementedError

    # What `dabench data download / import / verify` do; image datasets override them.
    def download(self, domains=None, progress: bool = True) -> list[str]:
        """Fetch the missing or corrupt declared files that have mirrors; returns those fetched."""
        from dabench.data.download import download

        return download(self, progress)

    def import_files(self, source: Path) -> list[str]:
        """Copy declared files obtained by hand (`source`: one file, or a folder searched by file name)."""
        from dabench.data.download import copy_verified, files_named

        names = {Path(relpath).name: relpath for relpath in self.files}
        found = files_named(Path(source).expanduser(), names, self.name)
        for path in found:
            copy_verified(path, self.root / names[path.name], self.files[names[path.name]])
        return [names[p.name] for p in found]

    def verify(self) -> list[str]:
        """One line per problem: declared files present but failing their sha256."""
        bad = [(relpath, file_status(self.root / relpath, expected)) for relpath, expected in self.files.items()]
        return [f"{self.root / relpath}: sha256 {status[4:]}, expected {self.files[relpath]}"
                for relpath, status in bad if status.startswith("bad:")]


class MatFeatures(DomainDataset):
    """A domain per MATLAB file holding a feature matrix ``fts`` (n, d) and ``labels`` (n, 1).

    Subclasses set ``folder``, ``file_names`` (domain -> file stem), ``file_suffix`` and
    ``label_offset`` (1 for labels numbered from 1), and may override ``preprocess``.
    Protocol: transductive, a domain's train and test splits are the same samples.
    """

    folder: str = ""
    file_names: dict[str, str] = {}
    file_suffix: str = ""
    label_offset: int = 0
    protocol = "transductive: train and test are the whole domain (target labels hidden in training)"
    transductive = True

    def domain_files(self, domain):
        return [f"{self.folder}/{self.file_names[domain]}{self.file_suffix}"]

    def preprocess(self, features):
        return features

    def arrays(self, domain: str):
        """Preprocessed features (n, d) float64 and labels (n,) from 0."""
        from scipy.io import loadmat

        self.check_domain(domain)
        mat = loadmat(self.path(self.domain_files(domain)[0]))
        features = self.preprocess(mat["fts"].astype("float64"))
        return features, mat["labels"].ravel().astype("int64") - self.label_offset

    def load(self, domain, split):
        return tensor_dataset(*self.arrays(domain))


def tensor_dataset(x, y) -> TensorDataset:
    """(x, y) arrays -> TensorDataset(float32 inputs, int64 labels)."""
    return TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))
