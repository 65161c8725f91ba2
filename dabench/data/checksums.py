"""File digests: sha256 (cached per file version), md5/sha512 prefixes, and a file's status against its
published digest. Shared by the dataset base class and the downloader."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    return file_digest(path)


_digests: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        _digests[key] = sha256_of(path)
    return _digests[key]


def matches(path: Path, expected: str | tuple[str, ...] | None) -> bool:
    """Whether file `path` has the digest `expected`: a sha256 hex digest, a tuple of accepted ones
    (the same data, compressed twice), "<algorithm>:<hex>" (md5 or sha512 where that is what the
    authors publish; a published prefix is enough), or None (no digest published: only presence)."""
    if expected is None:
        return True
    if isinstance(expected, str) and ":" in expected:
        algorithm, digest = expected.split(":")
        return file_digest(path, algorithm).startswith(digest)
    return file_sha256(path) in ((expected,) if isinstance(expected, str) else expected)


def file_status(path: Path, expected: str | tuple[str, ...] | None) -> str:
    """'ok', 'missing' or 'bad:<sha256>' (see `matches` for `expected`)."""
    if not path.is_file():
        return "missing"
    return "ok" if matches(path, expected) else f"bad:{file_sha256(path)}"
