"""The results store of one benchmark: a folder that survives crashes, concurrent runners and damage.

    <out>/grid.json                 the benchmark as loaded (name, pairs, methods, seeds)
    <out>/cells/<cell_id>/          one run folder each: cell.json, result.json (finished) or
                                    failed.json (diverged), checkpoint.pt, metrics.jsonl, and
                                    `claim` while a runner holds its lease
    <out>/results.jsonl             one row per finished or failed run, in grid order

Claims are leases: a runner writes `claim` (host, pid) under a store-wide file lock and a
heartbeat thread touches it every lease/4 seconds while the cell runs. A claim whose heartbeat
is older than the lease has expired, whichever host wrote it (a killed SLURM task, a lost
node); on its own host a claim whose process has died is cleared at once (kill -9).

Every file is written atomically (dabench.io). A file that is damaged anyway (a full disk, a
copy cut short, a hand edit) is named, set aside as <name>.damaged, and the cell reruns from
its last good checkpoint or from scratch; ``check`` lists all damage, ``check(repair=True)``
also mends it (``dabench store check DIR --repair``).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
from pathlib import Path

import pandas as pd
from filelock import FileLock

from dabench.bench.grid import Cell, Grid
from dabench.errors import DabenchError
from dabench.io import (
    DamagedFile,
    load_checkpoint,
    make_folder,
    read_json,
    read_jsonl,
    set_aside,
    write_bytes_atomic,
    write_json_atomic,
)
from dabench.run import recorded_outcome

DEFAULT_LEASE_S = 600.0


def lease_seconds() -> float:
    """How long a claim lives without a heartbeat: $DABENCH_LEASE_S, else 10 minutes."""
    value = os.environ.get("DABENCH_LEASE_S", str(DEFAULT_LEASE_S))
    try:
        lease = float(value)
    except ValueError:
        lease = -1.0
    if not 0 < lease < math.inf:  # an infinite lease: a dead runner's cells would wait for it forever
        raise DabenchError(f"DABENCH_LEASE_S={value!r} is not a positive, finite number of seconds; unset it or fix "
                           f"it")
    return lease


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ResultStore:
    def __init__(self, root: str | Path, lease_s: float | None = None):
        self.root = Path(root)
        self.lock = FileLock(str(self.root / ".store.lock"))
        self.lease_s = lease_s if lease_s is not None else lease_seconds()

    def cell_dir(self, cell: Cell | str) -> Path:
        return self.root / "cells" / (cell if isinstance(cell, str) else cell.cell_id)

    def outcome(self, cell: Cell | str) -> dict | None:
        """The cell's recorded result or failure (with "status"), or None; damage is set aside."""
        cell_id = cell if isinstance(cell, str) else cell.cell_id
        return recorded_outcome(self.cell_dir(cell_id), cell_id, set_aside_foreign=True)

    def is_done(self, cell: Cell | str) -> bool:
        """Finished or failed: either way it is not run again by accident."""
        return self.outcome(cell) is not None

    def write_grid(self, grid: Grid) -> None:
        make_folder(self.root)
        with self.lock:
            write_json_atomic({"name": grid.name, "dataset": grid.dataset, "pairs": grid.pairs,
                               "methods": grid.methods, "seeds": grid.seeds, "baseline": grid.baseline,
                               "cells": [c.cell_id for c in grid.cells],
                               "labels": {c.cell_id: c.method for c in grid.cells},
                               "sweep": {c.cell_id: c.sweep for c in grid.cells if c.sweep}, "benchmark": grid.raw},
                              self.root / "grid.json")
            for cell in grid.cells:
                self.cell_dir(cell).mkdir(parents=True, exist_ok=True)
                if not _readable(self.cell_dir(cell) / "cell.json"):
                    write_json_atomic(cell.config, self.cell_dir(cell) / "cell.json")
                self._expire(self.cell_dir(cell) / "claim")

    def lease_over(self, claim: Path) -> bool:
        """True if `claim` no longer holds its cell: its heartbeat is older than `lease_s`, its runner on
        this host has died, or the file is unreadable (it then cannot name a live owner)."""
        try:
            age = time.time() - claim.stat().st_mtime
            owner = read_json(claim)
        except (FileNotFoundError, DamagedFile):
            return True
        dead_here = owner.get("host") == socket.gethostname() and not _alive(owner.get("pid", -1))
        return dead_here or age > self.lease_s

    def _expire(self, claim: Path) -> bool:
        """Remove `claim` if its lease is over; True if the cell is now unclaimed. Call under the store lock."""
        if not self.lease_over(claim):
            return False
        claim.unlink(missing_ok=True)
        return True

    def claim(self, cell: Cell) -> bool:
        """True if this process now holds `cell`'s lease; False if it is done or leased by another runner."""
        claim = self.cell_dir(cell) / "claim"
        with self.lock:
            # A dead runner's (kill -9, crash, lost node) unfinished cell resumes from its checkpoint.
            if not self._expire(claim) or self.is_done(cell):
                return False
            write_json_atomic({"host": socket.gethostname(), "pid": os.getpid(), "lease_s": self.lease_s}, claim)
            return True

    @contextlib.contextmanager
    def heartbeat(self, cell: Cell):
        """While the block runs, touch the cell's claim every lease/4 seconds so it does not expire."""
        claim, stop = self.cell_dir(cell) / "claim", threading.Event()

        def beat():
            while not stop.wait(self.lease_s / 4):
                with contextlib.suppress(FileNotFoundError):
                    os.utime(claim)

        thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{cell.cell_id}")
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def release(self, cell: Cell) -> None:
        (self.cell_dir(cell) / "claim").unlink(missing_ok=True)

    def write_results(self) -> None:
        """Rewrite results.jsonl from the finished and failed cells, in grid order, atomically."""
        grid, rows = self.grid(), []
        for cell_id in grid["cells"]:
            done = self.outcome(cell_id)
            if done is not None:
                # A table names a run by the grid entry's label (its method name unless a label is given).
                label = grid.get("labels", {}).get(cell_id, done["config"]["method"]["name"])
                rows.append({**self._row(cell_id, done, label), "sweep": grid.get("sweep", {}).get(cell_id, {})})
        write_bytes_atomic("".join(json.dumps(r, default=str) + "\n" for r in rows).encode(),
                           self.root / "results.jsonl")

    @staticmethod
    def _row(cell_id: str, done: dict, label: str) -> dict:
        if done["status"] == "finished":
            return {"cell_id": cell_id, **done, "method": label}
        cfg = done["config"]
        return {"cell_id": cell_id, "status": "failed", "method": label, "source": cfg["source"],
                "target": cfg["target"], "seed": cfg["seed"], "error": done["error"], "config": cfg}

    def grid(self) -> dict:
        path = self.root / "grid.json"
        if not path.exists():
            raise DabenchError(f"{self.root} is not a benchmark folder (no grid.json); give the --out of dabench bench")
        return read_json(path)

    def load(self) -> pd.DataFrame:
        """One row per finished run: the scalar fields of result.json."""
        return pd.DataFrame([{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in self.rows()])

    def rows(self, status: str = "finished") -> list[dict]:
        """The rows of results.jsonl of finished (or failed) runs, in grid order; a torn last line is skipped."""
        path = self.root / "results.jsonl"
        rows = read_jsonl(path) if path.exists() else []
        return [r for r in rows if r.get("status", "finished") == status]

    def check(self, repair: bool = False) -> list[str]:
        """Every damaged or stale file of the store, one line each; with `repair`, mend them too:
        damaged results and checkpoints are set aside (the cell reruns, from scratch if needed),
        torn log lines dropped, expired claims removed and results.jsonl rewritten."""
        problems = []
        grid = self.grid()
        for cell_id in grid["cells"]:
            folder = self.cell_dir(cell_id)
            for name in ("cell.json", "result.json", "failed.json"):
                path = folder / name
                if path.exists():
                    try:
                        content = read_json(path)
                        if name != "cell.json" and content.get("config_hash") != cell_id:
                            problems.append(f"{path}: holds another cell's run ({content.get('config_hash')})")
                    except DamagedFile as damaged:
                        problems.append(str(damaged))
            if (folder / "checkpoint.pt").exists():
                try:
                    load_checkpoint(folder / "checkpoint.pt")
                except DamagedFile as damaged:
                    problems.append(str(damaged))
            if (folder / "metrics.jsonl").exists():
                problems += _jsonl_problems(folder / "metrics.jsonl")
            claim = folder / "claim"
            if claim.exists() and self.lease_over(claim):
                problems.append(f"{claim}: expired claim (its runner died or stopped its heartbeat)")
        if (self.root / "results.jsonl").exists():
            problems += _jsonl_problems(self.root / "results.jsonl")
        if repair and problems:
            self._repair(grid)
        return problems

    def _repair(self, grid: dict) -> None:
        with self.lock:
            for cell_id in grid["cells"]:
                folder = self.cell_dir(cell_id)
                self.outcome(cell_id)  # sets aside damaged or foreign result.json / failed.json
                if (folder / "cell.json").exists() and not _readable(folder / "cell.json"):
                    set_aside(folder / "cell.json", "not valid JSON; the next bench writes it again from the grid")
                if (folder / "checkpoint.pt").exists():
                    try:
                        load_checkpoint(folder / "checkpoint.pt")
                    except DamagedFile as damaged:
                        set_aside(folder / "checkpoint.pt", damaged.problem)
                        # A finished run is never rerun, so its lost model would stay lost: rerun it (the seed
                        # makes it the same run).
                        if (folder / "result.json").exists():
                            set_aside(folder / "result.json", "its checkpoint was damaged; the cell reruns")
                if (folder / "metrics.jsonl").exists():
                    _keep_good_lines(folder / "metrics.jsonl")
                self._expire(folder / "claim")
            self.write_results()


def _readable(path: Path) -> bool:
    """Whether `path` exists and holds a JSON object."""
    try:
        read_json(path)
    except (FileNotFoundError, DamagedFile):
        return False
    return True


def _jsonl_problems(path: Path) -> list[str]:
    lines = path.read_bytes().decode(errors="replace").splitlines()
    bad = []
    for number, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad.append(number)
    return [f"{path}: line {number} is not valid JSON (torn or damaged)" for number in bad]


def _keep_good_lines(path: Path) -> None:
    good = []
    for line in path.read_bytes().decode(errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            json.loads(line)
            good.append(line + "\n")
    write_bytes_atomic("".join(good).encode(), path)


def load_results(out: str | Path) -> pd.DataFrame:
    """The finished runs of the benchmark folder `out`: one row per run (method, source, target,
    seed, target_accuracy, source_accuracy, ...), a pandas DataFrame."""
    return ResultStore(out).load()
