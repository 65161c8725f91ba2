"""FileListDataset: a dataset of files (images, audio clips) fetched as archives, with mirrors,
checksums and count checks.

A subclass declares where its files come from and what a correct copy holds:

- ``folder``: its folder under the data root; ``class_names`` in label order.
- ``archives``: the files to fetch, each with mirrors (the original host first) and its
  published checksum when there is one. Archives are extracted into the folder.
- ``samples(key)``: the (file paths, labels) of a domain (``"domain"``) or of a domain's
  split (``"domain/split"`` when the dataset has official splits).
- ``counts``: the expected number of files per key.

``prepare`` (``dabench data download``/``import``) fetches, checks, extracts and counts, then
writes ``<folder>/dabench-verified.json``: the sha256 of every archive used and the counts.
``keep_archives=False`` (``--delete-archives``) deletes each archive once extracted.
A domain loads only once it is listed there, so a truncated download, a corrupt archive or
a partial extraction is never trained on.
"""
from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dabench.data.base import DomainDataset, cache_dir
from dabench.data.checksums import sha256_of
from dabench.data.download import copy_verified, download_file, files_named
from dabench.data.splits import SHIPPED, test_mask
from dabench.errors import DabenchError

MARKER = "dabench-verified.json"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2")


@dataclass(frozen=True)
class Archive:
    """One downloadable file.

    checksum: "sha256:<hex>", a published "sha512:<hex prefix>", or None when the authors
    publish none: then the sha256 of the first copy that passes the count check is recorded
    in the marker and every result row, and later `dabench data verify` runs hold to it.
    domains: the domains it holds (empty: all), so one domain can be fetched alone.
    """

    name: str
    mirrors: tuple[str, ...]
    checksum: str | None = None
    domains: tuple[str, ...] = ()


class FileListDataset(DomainDataset):
    """Files on disk listed per domain (and split); subclasses implement ``samples`` and ``load``.

    ``test_fraction`` > 0 holds out a stratified test split per domain instead of the
    transductive protocol (drawn with ``split_seed`` and kept in split files, see
    dabench.data.splits), for datasets without official splits.
    """

    folder: str = ""
    class_names: tuple[str, ...] = ()
    archives: tuple[Archive, ...] = ()
    counts: dict[str, int] = {}
    transductive = True
    protocol = "transductive: train and test are the whole domain (target labels hidden in training)"
    manual: str = ""  # extra steps for by-hand downloads (licence forms, Google Drive)

    def __init__(self, root=None, test_fraction: float = 0.0, split_seed: int = 0):
        super().__init__(root)
        if test_fraction and not self.transductive:
            raise DabenchError(f"{self.name} has official train/test splits; remove dataset.test_fraction")
        self.test_fraction, self.split_seed = test_fraction, split_seed
        if test_fraction:
            self.transductive = False
            self.protocol = (f"held-out test split per domain: {test_fraction:g} of the files, stratified, seed "
                             f"{split_seed} (split files)")
        self.num_classes = self.num_classes or len(self.class_names)

    @property
    def directory(self) -> Path:
        return self.root / self.folder

    @property
    def split_folders(self) -> list[Path]:
        """Where split files are looked for, in order: shipped with dabench, placed under the data
        root, drawn earlier; the last one is where a new one is saved (the cache, not the data)."""
        return [SHIPPED / self.name, self.root / "splits" / self.name, cache_dir() / "splits" / self.name]

    def key(self, domain: str, split: str) -> str:
        """"domain/split" where the dataset defines splits, else "domain" (one list per domain)."""
        return domain if type(self).transductive else f"{domain}/{split}"

    def keys(self, domain: str) -> list[str]:
        return [domain] if type(self).transductive else [f"{domain}/train", f"{domain}/test"]

    def samples(self, key: str) -> tuple[list[str], list[int]]:
        """(file paths, labels) of a "domain" or "domain/split" key."""
        raise NotImplementedError

    def verified(self) -> dict:
        marker = self.directory / MARKER
        return json.loads(marker.read_text()) if marker.is_file() else {"archives": {}, "counts": {}}

    def missing_files(self, domain):
        done = self.verified()["counts"]
        return [] if all(k in done for k in self.keys(domain)) else [f"{self.folder}/ ({domain} not verified)"]

    def split_samples(self, domain: str, split: str) -> tuple[list[str], list[int]]:
        """The verified (paths, labels) of a domain's split, recorded for provenance."""
        self.check_domain(domain)
        if self.missing_files(domain):
            raise DabenchError(f"{self.name}: domain '{domain}' is not downloaded and verified under {self.directory}; "
                               f"run `dabench data download {self.name}` (or `dabench data import {self.name} PATH` "
                               f"for files obtained by hand)")
        key = self.key(domain, split)
        paths, labels = self.samples(key)
        if self.test_fraction:
            ids = [os.path.relpath(p, self.directory) for p in paths]
            test = test_mask(self.split_folders, domain, ids, np.array(labels),
                             self.test_fraction, self.split_seed)
            chosen = np.flatnonzero(test if split == "test" else ~test)
            paths, labels = [paths[i] for i in chosen], [labels[i] for i in chosen]
        # Provenance without hashing every file: the archives' sha256 and a digest of the (file, label) list.
        listing = "".join(f"{os.path.relpath(p, self.directory)} {y}\n" for p, y in zip(paths, labels))
        self.used_files.update(self.verified()["archives"])
        self.used_files[f"{self.folder or self.directory}/{key} (listing)"] = hashlib.sha256(listing.encode()).hexdigest()
        return paths, labels

    def downloadable(self) -> bool:
        return any(a.mirrors for a in self.archives)

    def archives_for(self, domains) -> list[Archive]:
        return [a for a in self.archives if not a.domains or set(a.domains) & set(domains)]

    def download(self, domains=None, progress=True, keep_archives=True):
        return sorted(prepare(self, domains, progress=progress, keep_archives=keep_archives)["counts"])

    def import_files(self, source, keep_archives=True):
        return sorted(prepare(self, source=Path(source), keep_archives=keep_archives)["counts"])

    def verify(self):
        return verify(self)


def fetch_archive(dataset: FileListDataset, archive: Archive, progress: bool = True) -> Path:
    """Download one archive into the dataset folder (a good copy already there is kept)."""
    return download_file(dataset.directory, archive.name, archive.checksum, list(archive.mirrors), progress,
                         dataset.manual, dataset.name)


def import_archives(dataset: FileListDataset, path: Path) -> list[Path]:
    """Copy archives obtained by hand (a file, or a folder holding them) into the dataset folder."""
    known = {a.name: a for a in dataset.archives}
    found = files_named(Path(path).expanduser(), known, dataset.name)
    for source in found:
        copy_verified(source, dataset.directory / source.name, known[source.name].checksum)
    return [dataset.directory / source.name for source in found]


def extract(dataset: FileListDataset, archive: Path) -> bool:
    """Unpack `archive` into the dataset folder; False for a file that is not an archive (it is read as it is)."""
    if not archive.name.endswith(ARCHIVE_SUFFIXES):
        return False
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:  # zipfile drops absolute and ".." member paths
                z.extractall(dataset.directory)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(dataset.directory, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        reason = " ".join(str(err).split())  # tarfile's message spans lines
        raise DabenchError(f"{dataset.name}: archive {archive} is corrupt or truncated ({reason}); delete it and run "
                           f"`dabench data download {dataset.name}` again") from None
    return True


def count_and_mark(dataset: FileListDataset, domains, archive_digests: dict[str, str]) -> dict:
    """Check every domain's file count and that its files exist; then write the marker with the archives' sha256."""
    marker = dataset.verified()
    for domain in domains:
        for key in dataset.keys(domain):
            try:
                paths, _ = dataset.samples(key)
            except FileNotFoundError as err:
                raise DabenchError(f"{dataset.name}: {key}: {err.filename} is missing after extraction; the archives "
                                   f"are incomplete or another release") from None
            expected = dataset.counts.get(key)
            if expected is not None and len(paths) != expected:
                raise DabenchError(f"{dataset.name}: {key} has {len(paths)} files, expected {expected}; the archive is "
                                   f"incomplete or another release: delete {dataset.directory} and download again")
            absent = [p for p in paths if not os.path.isfile(p)]
            if absent:
                raise DabenchError(f"{dataset.name}: {key}: {len(absent)} listed files are missing, e.g. {absent[0]}")
            marker["counts"][key] = len(paths)
    marker["archives"].update(archive_digests)
    tmp = dataset.directory / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=1, sort_keys=True))
    os.replace(tmp, dataset.directory / MARKER)
    return marker


def prepare(dataset: FileListDataset, domains=None, source: Path | None = None, progress: bool = True,
            keep_archives: bool = True) -> dict:
    """Download (or import from `source`), extract and verify `domains` (default: all); returns the marker.

    keep_archives False: each archive is deleted as soon as it is extracted, so the disk holds one archive at a time
    beside the extracted files (ImageNet-C: its 63 GB once, not twice). Its sha256 stays in the marker; a count that
    then fails means downloading again."""
    for domain in domains or ():
        dataset.check_domain(domain)
    if source:
        files = import_archives(dataset, source)
        held = {a.name: a.domains or dataset.domains for a in dataset.archives}
        domains = domains or sorted({d for f in files for d in held[f.name]}, key=dataset.domains.index)
    else:
        domains = domains or dataset.domains
        files = (fetch_archive(dataset, archive, progress) for archive in dataset.archives_for(domains))
    digests = {}
    for file in files:  # downloads one at a time, so each is extracted (and maybe deleted) before the next
        digests[file.name] = sha256_of(file)
        if extract(dataset, file) and not keep_archives:
            file.unlink()
    return count_and_mark(dataset, domains, digests)


def verify(dataset: FileListDataset) -> list[str]:
    """Problems with what `prepare` recorded: archives whose sha256 changed, domains whose files went missing."""
    marker, problems = dataset.verified(), []
    for name, digest in marker["archives"].items():
        path = dataset.directory / name
        if path.is_file() and sha256_of(path) != digest:
            problems.append(f"{path}: sha256 {sha256_of(path)}, recorded {digest} when it was verified")
    for key, count in marker["counts"].items():
        paths, _ = dataset.samples(key)
        absent = sum(not os.path.isfile(p) for p in paths)
        if len(paths) != count or absent:
            problems.append(f"{dataset.name} {key}: {len(paths)} files listed ({absent} missing), {count} verified")
    return problems
