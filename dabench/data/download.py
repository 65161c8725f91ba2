"""Checksum-verified downloads with mirrors and resumable partial files.

Each file is fetched into ``<file>.part`` (continued with an HTTP Range request when a
partial file exists), its sha256 is checked, and only then is it renamed into place: a
truncated or corrupt download is never used.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from dabench.data.base import DomainDataset, file_status, sha256_of
from dabench.errors import DabenchError


def fetch(url: str, dest: Path, timeout: float = 60.0, progress: bool = True) -> None:
    """Download `url` to `dest`, appending to an existing `dest` via a Range request when possible."""
    have = dest.stat().st_size if dest.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = response.status == 206
        total = int(response.headers.get("Content-Length", 0)) + (have if resumed else 0)
        with open(dest, "ab" if resumed else "wb") as f, tqdm(total=total or None, initial=have if resumed else 0,
                                                              unit="B", unit_scale=True, desc=dest.name,
                                                              disable=not progress) as bar:
            while chunk := response.read(1 << 16):
                f.write(chunk)
                bar.update(len(chunk))


def download_file(root: Path, relpath: str, expected: str | tuple[str, ...], mirrors: list[str],
                  progress: bool = True) -> Path:
    """Fetch `relpath` under `root` from the first mirror that yields a file with an accepted sha256."""
    dest = root / relpath
    if file_status(dest, expected) == "ok":
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    accepted = (expected,) if isinstance(expected, str) else expected
    failures = []
    for url in mirrors:
        try:
            fetch(url, part, progress=progress)
        except (urllib.error.URLError, OSError) as err:
            failures.append(f"{url} ({getattr(err, 'reason', err)})")
            continue
        actual = sha256_of(part)
        if actual in accepted:
            os.replace(part, dest)
            return dest
        failures.append(f"{url} (sha256 {actual}, expected {' or '.join(accepted)})")
        part.unlink()
    raise DabenchError(f"could not download {relpath}: tried {'; '.join(failures) or 'no mirror known'}; get the file "
                       f"by hand and place it at {dest} (sha256 {accepted[0]})")


def download(dataset: DomainDataset, progress: bool = True) -> list[str]:
    """Fetch every declared file that is missing or corrupt and has known URLs; returns the files fetched."""
    fetched = []
    for relpath, expected in dataset.files.items():
        if relpath in dataset.urls and file_status(dataset.root / relpath, expected) != "ok":
            download_file(dataset.root, relpath, expected, dataset.urls[relpath], progress)
            fetched.append(relpath)
    return fetched
