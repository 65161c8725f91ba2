"""Checksum-verified downloads with mirrors and resumable partial files.

Each file is fetched into ``<file>.part`` (continued with an HTTP Range request when a
partial file exists), its sha256 is checked, and only then is it renamed into place: a
truncated or corrupt download is never used.
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from dabench.data.checksums import file_status, matches, sha256_of
from dabench.errors import DabenchError


class WebPageServed(OSError):
    """A mirror answered with a web page (sign-in, quota or confirmation page) instead of the file."""


def google_drive(file_id: str) -> str:
    """The direct download URL of a public Google Drive file, past the "can't scan for viruses" page."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


def fetch(url: str, dest: Path, timeout: float = 60.0, progress: bool = True) -> None:
    """Download `url` to `dest`, appending to an existing `dest` via a Range request when possible."""
    have = dest.stat().st_size if dest.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        # Checked before writing: without a published checksum a saved page would pass as the file.
        if response.headers.get_content_type() == "text/html":  # no dataset file is a web page
            raise WebPageServed(f"served a web page, not the file: open {url} in a browser")
        resumed = response.status == 206
        total = int(response.headers.get("Content-Length", 0)) + (have if resumed else 0)
        with open(dest, "ab" if resumed else "wb") as f, tqdm(total=total or None, initial=have if resumed else 0,
                                                              unit="B", unit_scale=True, desc=dest.name,
                                                              disable=not progress) as bar:
            while chunk := response.read(1 << 16):
                f.write(chunk)
                bar.update(len(chunk))


def download_file(root: Path, relpath: str, expected: str | tuple[str, ...] | None, mirrors: list[str],
                  progress: bool = True, manual: str = "", dataset: str = "") -> Path:
    """Fetch `relpath` under `root` from the first mirror that yields a file matching `expected`
    (see `dabench.data.checksums.matches`)."""
    dest = root / relpath
    if dest.is_file() and expected is not None and matches(dest, expected):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in mirrors:
        try:
            fetch(url, part, progress=progress)
        except (urllib.error.URLError, OSError) as err:
            failures.append(f"{url} ({getattr(err, 'reason', err)})")
            continue
        if matches(part, expected):
            os.replace(part, dest)
            return dest
        failures.append(f"{url} (sha256 {sha256_of(part)}, expected {expected})")
        part.unlink()
    first = expected if isinstance(expected, str) or expected is None else expected[0]
    digest = "" if first is None else f" ({first})" if ":" in first else f" (sha256 {first})"
    manual = f" ({manual})" if manual else ""
    how = f"run `dabench data import {dataset} {dest.name}`" if dataset else f"place it at {dest}"
    raise DabenchError(f"could not download {relpath}: tried {'; '.join(failures) or 'no mirror known'}; get the "
                       f"file{digest} by hand{manual} and {how}")


def files_named(source: Path, names, dataset: str) -> list[Path]:
    """`source` if it is a file with one of `names`, else the files with those names in folder `source`."""
    found = [source] if source.is_file() else sorted(source / n for n in names if (source / n).is_file())
    if not found or any(p.name not in names for p in found):
        raise DabenchError(f"{source}: expected {'one of ' if len(names) > 1 else ''}{', '.join(names)} (the files of "
                           f"{dataset}), or a folder holding them")
    return found


def copy_verified(source: Path, dest: Path, expected) -> None:
    """Copy `source` to `dest` (atomically) if it matches `expected` (see `matches`)."""
    if not matches(source, expected):
        raise DabenchError(f"{source} has sha256 {sha256_of(source)}, expected {expected}: it is corrupt or another "
                           f"release")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != dest.resolve():
        part = dest.with_name(dest.name + ".part")
        shutil.copyfile(source, part)
        os.replace(part, dest)


def download(dataset, progress: bool = True) -> list[str]:
    """Fetch every declared file of `dataset` (a DomainDataset: its root, files, urls) that is missing or corrupt
    and has known URLs; returns the files fetched."""
    fetched = []
    for relpath, expected in dataset.files.items():
        if relpath in dataset.urls and file_status(dataset.root / relpath, expected) != "ok":
            download_file(dataset.root, relpath, expected, dataset.urls[relpath], progress)
            fetched.append(relpath)
    return fetched
