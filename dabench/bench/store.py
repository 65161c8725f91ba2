"""The results store of one benchmark: a folder that survives crashes and concurrent runners.

    <out>/grid.json                 the benchmark as loaded (name, pairs, methods, seeds)
    <out>/cells/<cell_id>/          one run folder each: cell.json, result.json, checkpoint.pt,
                                    metrics.jsonl, and `claim` while a runner owns it
    <out>/results.jsonl             one row per finished run (result.json's fields), in grid order

A cell is claimed by writing `claim`, under a store-wide file lock so that
the check for a stale claim (its process has died) and the new claim are one step.
A runner killed between finishing a cell and releasing it leaves a stale claim on a
finished cell; opening the store (`write_grid`) clears those.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pandas as pd
from filelock import FileLock

from dabench.bench.grid import Cell, Grid
from dabench.run import write_json_atomic


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.lock = FileLock(str(self.root / ".store.lock"))

    def cell_dir(self, cell: Cell) -> Path:
        return self.root / "cells" / cell.cell_id

    def is_done(self, cell: Cell) -> bool:
        return (self.cell_dir(cell) / "result.json").exists()

    def write_grid(self, grid: Grid) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock:
            write_json_atomic({"name": grid.name, "dataset": grid.dataset, "pairs": grid.pairs,
                               "methods": grid.methods, "seeds": grid.seeds,
                               "cells": [c.cell_id for c in grid.cells],
                               "labels": {c.cell_id: c.method for c in grid.cells}, "benchmark": grid.raw},
                              self.root / "grid.json")
            for cell in grid.cells:
                self.cell_dir(cell).mkdir(parents=True, exist_ok=True)
                if not (self.cell_dir(cell) / "cell.json").exists():
                    write_json_atomic(cell.config, self.cell_dir(cell) / "cell.json")
                self._clear_if_stale(self.cell_dir(cell) / "claim")

    def _clear_if_stale(self, claim: Path) -> bool:
        """Remove `claim` if its runner (on this host) has died; True if the cell is now unclaimed.
        Call under the store lock."""
        if claim.exists():
            owner = json.loads(claim.read_text() or "{}")
            if owner.get("host") != socket.gethostname() or _alive(owner.get("pid", -1)):
                return False
            claim.unlink()
        return True

    def claim(self, cell: Cell) -> bool:
        """True if this process now owns `cell`; False if it is finished or owned by a live runner."""
        claim = self.cell_dir(cell) / "claim"
        with self.lock:
            # A dead runner's (kill -9, crash) unfinished cell resumes from its checkpoint.
            if not self._clear_if_stale(claim) or self.is_done(cell):
                return False
            # Written whole (temporary file + rename; the store lock makes it exclusive): a runner
            # killed mid-write must not leave an empty claim that reads as another host's.
            write_json_atomic({"host": socket.gethostname(), "pid": os.getpid()}, claim)
            return True

    def release(self, cell: Cell) -> None:
        (self.cell_dir(cell) / "claim").unlink(missing_ok=True)

    def write_results(self) -> None:
        """Rewrite results.jsonl from the finished cells, in grid order, atomically."""
        grid, rows = self.grid(), []
        for cell_id in grid["cells"]:
            result = self.root / "cells" / cell_id / "result.json"
            if result.exists():
                row = json.loads(result.read_text())
                # A table names a run by the grid entry's label (its method name unless a label is given).
                rows.append({"cell_id": cell_id, **row, "method": grid.get("labels", {}).get(cell_id, row["method"])})
        tmp = self.root / "results.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
        os.replace(tmp, self.root / "results.jsonl")

    def grid(self) -> dict:
        return json.loads((self.root / "grid.json").read_text())

    def load(self) -> pd.DataFrame:
        """One row per finished run: the scalar fields of result.json."""
        return pd.DataFrame([{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in self.rows()])

    def rows(self) -> list[dict]:
        """The rows of results.jsonl, in grid order."""
        path = self.root / "results.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
