"""``dabench bench``: a benchmark file -> runs -> results.jsonl, tables and figures in one folder (a file with
``setting: stream`` goes to dabench/stream/benchmark.py)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from dabench.bench.figures import accuracy_bars, gain_heatmap, selection_scatter, tsne_before_after
from dabench.bench.grid import Grid, load_grid
from dabench.bench.report import write_tables
from dabench.bench.runner import run_cells
from dabench.bench.selection import write_comparison
from dabench.bench.store import ResultStore
from dabench.config_files import load_yaml
from dabench.data.loaders import NO_SOURCE
from dabench.errors import DabenchError
from dabench.io import DamagedFile, read_json, write_json_atomic
from dabench.stream.benchmark import run_stream_benchmark


def write_figures(grid: Grid, root: Path) -> dict:
    """Heatmap and bars always; t-SNE for the file's ``tsne`` choice (default: the first adapted
    method on the first pair and seed, against the baseline on the same pair and seed; ``tsne: false``
    skips it, and task adaptation has none). Figures show finished runs only: a failed (diverged) run has no
    model to show."""
    store = ResultStore(root)
    figures = root / "figures"
    figures.mkdir(exist_ok=True)
    if not store.rows():  # every run failed: nothing to draw
        return {}
    accuracy_bars(root, figures / "accuracy.png")
    selection_scatter(root, figures / "selection.png")
    info = {}
    finished = {c.method for c in grid.cells if (store.outcome(c) or {}).get("status") == "finished"}
    adapted = [m for m in grid.methods if m != grid.baseline and m in finished]
    if grid.baseline in finished and adapted:
        gain_heatmap(root, figures / "gain_heatmap.png")
    # Task adaptation has no source domain: no source/target feature picture to draw.
    two_domains = any(source != NO_SOURCE for source, _ in grid.pairs)
    if grid.baseline in finished and adapted and two_domains and grid.raw.get("tsne", True) is not False:
        choice = grid.raw["tsne"] if isinstance(grid.raw.get("tsne"), dict) else {}
        method = choice.get("method") or adapted[0]
        source, target = choice.get("pair") or grid.pairs[0]
        seed = choice["seed"] if choice.get("seed") is not None else grid.seeds[0]
        pick = {}
        for cell in grid.cells:  # with a sweep, each method's first point
            if (cell.source, cell.target, cell.seed) == (source, target, seed):
                pick.setdefault(cell.method, cell)
        if not all((store.outcome(pick[m]) or {}).get("status") == "finished" for m in (grid.baseline, method)):
            return info
        try:
            pads = tsne_before_after(store.cell_dir(pick[grid.baseline]), store.cell_dir(pick[method]),
                                     (grid.baseline, method), figures / "tsne.png", seed,
                                     f"({source}→{target}, seed {seed})")
        except (DamagedFile, FileNotFoundError) as err:  # a finished cell whose model file was damaged or removed
            warnings.warn(f"figures: no t-SNE figure: {err}; run `dabench store check {root} --repair`, then this "
                          f"benchmark again (it reruns that cell)", stacklevel=2)
            return info
        info = {"method": method, "pair": [source, target], "seed": seed, "proxy_a_distance": pads}
        write_json_atomic(info, figures / "tsne.json")
    return info


def log_table_to_wandb(grid: Grid, root: Path) -> None:
    import pandas as pd
    import wandb

    logging = grid.cells[0].config["logging"]
    run = wandb.init(project=logging["wandb_project"], mode=logging["wandb_mode"], group=grid.name,
                     name=f"{grid.name}:table", job_type="table", dir=str(root), reinit="finish_previous")
    run.log({"table": wandb.Table(dataframe=pd.read_csv(root / "table.csv"))})
    run.finish()


def run_benchmark(path: str | Path, out: str | Path, overrides: list[str] | None = None, executor: str = "local",
                  workers: int = 1, slurm: dict | None = None, progress_bar: bool = True, runs_per_gpu: int = 1,
                  detach: bool = False) -> dict:
    """Run every missing cell of the benchmark file at `path` into `out`, then write tables and figures.

    Local worker processes share the CPU cores: each run gets cores // workers threads, recorded in
    its config (and so in its hash: the result bits depend on it). `detach` (submitit executors)
    returns once the jobs are submitted, before any table: ``dabench table OUT --write`` later.
    """
    if detach and executor not in ("slurm", "submitit_local"):
        raise DabenchError(f"--detach leaves cluster jobs running after this process exits; it needs --executor "
                           f"slurm or submitit_local, not {executor}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DabenchError(f"--workers must be a positive integer, got {workers!r}")
    if load_yaml(path).get("setting") == "stream":
        if executor != "local" or workers != 1:
            raise DabenchError(f"{path} is a stream benchmark: its streams run here, one at a time; drop --executor "
                               f"and --workers")
        outcome = run_stream_benchmark(path, out, overrides, progress_bar)
        return {"status": outcome["status"], "table": outcome["md"]}
    threads = max(1, (os.cpu_count() or 1) // workers) if executor == "local" else None
    grid = load_grid(path, overrides, threads)
    root = Path(out)
    store = ResultStore(root)
    store.write_grid(grid)
    status = run_cells(grid.cells, root, executor, workers, slurm, progress_bar, runs_per_gpu, detach)
    if detach:
        submitted = sum(s == "submitted" for s in status.values())
        return {"status": status, "table": f"submitted {submitted} run(s) to {executor}; when they finish, run "
                                           f"`dabench table {root} --write` (or this command again: finished runs "
                                           f"are kept, lost ones retried)"}
    with store.lock:
        store.write_results()
    tables = write_tables(root)
    if store.rows():
        write_comparison(root)
    # Figures are a function of the runs: drawn again when a run finished since they were complete.
    finished = sorted(r["cell_id"] for r in store.rows())
    done = root / "figures" / "complete.json"
    try:
        complete = read_json(done).get("cells") == finished
    except (FileNotFoundError, DamagedFile):
        complete = False
    if not complete and grid.raw.get("figures", True):
        write_figures(grid, root)
        write_json_atomic({"cells": finished}, done)
    if grid.cells[0].config["logging"]["wandb"]:
        log_table_to_wandb(grid, root)
    return {"status": status, "table": tables["md"]}
