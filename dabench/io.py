"""Every file dabench writes goes through here: written atomically, read back with the file named.

Writers serialise to bytes first, then write a temporary file beside the target, fsync and
rename: a crash leaves either the old file or the new one, never half of one, and a failed
write (a full disk) removes its temporary file and says how much space it needed.

Readers of dabench's own files raise ``DamagedFile`` (a DabenchError naming the file and what
is wrong) instead of a JSON or torch traceback, so callers can recover: rerun the cell, skip
a torn last line, expire a claim.
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import warnings
from pathlib import Path

import torch

from dabench.errors import DabenchError


class DamagedFile(DabenchError):
    """A file dabench wrote cannot be read back; `path` names it."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


def set_aside(path: Path, problem: str) -> None:
    """Rename a damaged `path` to <name>.damaged (kept for inspection, never read again), with a warning."""
    with contextlib.suppress(FileNotFoundError):  # another runner set it aside first
        os.replace(path, path.with_name(path.name + ".damaged"))
        warnings.warn(f"{path}: {problem}; set aside as {path.name}.damaged and not read again", stacklevel=3)


def make_folder(path: str | Path) -> Path:
    """mkdir -p `path` (an --out folder); a one-line error if it is a file or cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DabenchError(f"--out {path} is a file (or lies under one); give a folder") from None
    except OSError as err:
        raise DabenchError(f"cannot create --out {path} ({err.strerror}); choose a writable folder") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DabenchError(f"--out {path} is not writable; choose a writable folder")
    return path


def write_bytes_atomic(data: bytes, path: str | Path) -> None:
    """Write `data` to `path` through a temporary file + fsync + rename.

    On any failure the temporary file is removed; a full disk (ENOSPC, EDQUOT) becomes a
    one-line DabenchError naming the folder and the bytes needed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        _write_failed(err, path, len(data))


def _write_failed(err: OSError, path: Path, nbytes: int) -> None:
    """Raise a full disk or a read-only folder as a one-line DabenchError; any other OSError as it is."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DabenchError(f"no space left in {path.parent} to write {path.name} ({nbytes:,} bytes needed); "
                           f"free some space there or choose another --out") from None
    if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        raise DabenchError(f"cannot write {path} ({err.strerror}); choose a writable --out") from None
    raise err


def append_text(path: str | Path, text: str) -> None:
    """Append `text` (whole lines) to `path`. A failed append is cut back off, so a reader never meets half a
    line from it, and a full disk is a one-line DabenchError as in ``write_bytes_atomic``."""
    path = Path(path)
    data = memoryview(text.encode())
    with open(path, "ab", buffering=0) as f:  # unbuffered: no write is left to fail again at close
        start = f.tell()
        try:
            while data:
                data = data[f.write(data):]
        except OSError as err:
            with contextlib.suppress(OSError):
                f.truncate(start)
            _write_failed(err, path, len(text.encode()))


def save_figure(fig, path: Path) -> None:
    """Matplotlib figure `fig` as `path` in PNG (for the README and notebooks) and the same name as PDF (vector,
    for papers), each written atomically: an interrupted figure stage leaves no half-written file."""
    for suffix, options in ((".png", {"dpi": 150}), (".pdf", {})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix[1:], bbox_inches="tight", **options)
        write_bytes_atomic(buffer.getvalue(), path.with_suffix(suffix))


def write_json_atomic(obj, path: str | Path) -> None:
    write_bytes_atomic(json.dumps(obj, indent=2, default=str).encode(), path)


def save_atomic(obj, path: str | Path) -> None:
    """torch.save(obj) written atomically (a checkpoint)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(buffer.getvalue(), path)


def read_json(path: str | Path) -> dict:
    """A JSON object written by dabench; DamagedFile if it is not one."""
    path = Path(path)
    try:
        value = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DamagedFile(path, f"not valid JSON ({err}); it was damaged") from None
    if not isinstance(value, dict):
        raise DamagedFile(path, f"expected a JSON object, found {type(value).__name__}")
    return value


def read_jsonl(path: str | Path) -> list[dict]:
    """The rows of a JSON-lines file. A torn last line (a writer killed mid-append) is skipped with
    a warning naming the file; damage before the last line raises DamagedFile."""
    path = Path(path)
    lines = [line for line in path.read_bytes().decode(errors="replace").splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise DamagedFile(path, f"line {number} is not valid JSON; run `dabench store check --repair` "
                                        f"on its benchmark folder, or delete the file") from None
            warnings.warn(f"{path}: skipped its torn last line {number} (a writer was interrupted)", stacklevel=2)
    return rows


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by dabench, on the CPU.

    Always ``weights_only=True``: unpickling arbitrary objects would run whatever code a planted
    or downloaded file holds. A truncated or foreign file raises DamagedFile naming it.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError... for damaged files
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DamagedFile(path, f"not a loadable dabench checkpoint ({reason[:160]})") from None
    if not isinstance(state, dict):
        raise DamagedFile(path, f"not a dabench checkpoint (holds a {type(state).__name__})")
    return state
