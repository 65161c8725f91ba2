"""The share of a run's wall time spent in evaluation (every validator, the oracle, the checkpoint's records).

One DANN run (seed 0, first pair) of each benchmark file, at its own steps and eval_every, with the trainer's
`evaluate` wrapped in a timer. Run it from a checkout to measure that code; `PYTHONPATH=<another checkout>`
measures another (the script imports only what every version has). Prints a Markdown table; with --json, appends
its rows to that file.

    python benchmarks/eval_share.py configs/benchmarks/quickstart.yaml configs/benchmarks/reproduction_digits.yaml
    python benchmarks/eval_share.py ... trainer.eval_target_samples=5000
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import torch

import dabench
import dabench.trainer
from dabench.bench.grid import load_grid
from dabench.run import train


def measure(grid_file: str, overrides: list[str], method: str = "dann") -> dict:
    """Wall time of one run of `method` from `grid_file` and the part of it spent in evaluation, seconds."""
    grid = load_grid(grid_file, overrides, threads=torch.get_num_threads())
    cell = next(c for c in grid.cells if c.method == method)
    spent = []
    evaluate = dabench.trainer.evaluate

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    dabench.trainer.evaluate = timed
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = train(cell.config, out)
            wall = time.perf_counter() - start
    finally:
        dabench.trainer.evaluate = evaluate
    trainer = cell.config["trainer"]
    return {"benchmark": grid.name, "pair": f"{cell.source}->{cell.target}", "method": method,
            "steps": trainer["steps"], "eval_every": trainer["eval_every"], "evaluations": len(spent),
            "overrides": overrides, "wall_s": round(wall, 2), "eval_s": round(sum(spent), 2),
            "eval_share": round(sum(spent) / wall, 4), "target_accuracy": result["target_accuracy"],
            "commit": commit(), "threads": torch.get_num_threads()}


def commit() -> str:
    """The git commit of the dabench being measured."""
    where = Path(dabench.__file__).resolve().parents[1]
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("grids", nargs="+", help="benchmark files; key=value arguments are overrides")
    parser.add_argument("--json", type=Path, help="append the rows to this JSON-lines file")
    args = parser.parse_args()
    overrides = [g for g in args.grids if "=" in g]
    rows = [measure(g, overrides) for g in args.grids if "=" not in g]
    print("| benchmark | pair | steps / eval_every | evaluations | run (s) | evaluation (s) | share | commit |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['benchmark']}{' ' + ' '.join(overrides) if overrides else ''} | {row['pair']} | "
              f"{row['steps']} / {row['eval_every']} | {row['evaluations']} | {row['wall_s']:.1f} | "
              f"{row['eval_s']:.1f} | {100 * row['eval_share']:.1f} % | {row['commit']} |")
    if args.json:
        with open(args.json, "a") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
