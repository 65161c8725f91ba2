"""``dabench bench`` for the stream setting: every test-time method x stream variant x seed, then the tables.

A stream benchmark file is a stream config (dabench/stream/protocol.py) without `method` and `seed`, plus:

    setting: stream
    methods: [source, bn_adapt, tent, {name: tent, label: tent_lr1e-3, lr: 0.001}]   default: every method
    seeds: [0, 1, 2]                            a method entry may give its own, e.g. {name: memo, seeds: [0]}
    streams: {b64: {batch_size: 64}, b1: {batch_size: 1}, dirichlet: {order: dirichlet}}   optional: a study

Each cell is one `dabench stream` folder, OUT/runs/<stream>/<method>/seed<k> (<stream> is `default` without
`streams`), run, resumed or reused as `dabench stream` does. Written to OUT: table.md (one stream: the online
error per target domain, e.g. per corruption, their mean and the final model's; a study: the mean online error of
each stream variant), per_domain.csv (every run's online and final-model error on every domain), curves.png (the
online accuracy over each stream, first seed), results.json (every run's result without its curve) and the file
itself (grid.yaml). A run whose online accuracy falls below the source model's (same stream, same seed) is marked
▼, negative transfer; the `source` method is always run for that.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import yaml

from dabench.config_files import apply_overrides, load_yaml, shipped
from dabench.data.loaders import NO_SOURCE
from dabench.errors import DabenchError
from dabench.io import make_folder, read_json, save_figure, write_bytes_atomic, write_json_atomic
from dabench.stream.base import STREAM_METHODS
from dabench.stream.protocol import PROTOCOL, resolve_stream, run_stream, segment_names

GRID_KEYS = ("setting", "name", "methods", "seeds", "streams")


def load_stream_grid(path: str | Path, overrides: list[str] | None = None, check: bool = True) -> dict:
    """The validated benchmark file: {name, raw, methods: [(label, spec)], seeds, streams: {variant: options},
    cells: [(variant, label, seed, stream config)]}; every problem is a one-line error naming the file. `check`
    False leaves the cells' configs unresolved (rendering the tables of a finished run needs no data)."""
    path = Path(path)
    raw = apply_overrides(load_yaml(path), overrides or [])
    for key in ("method", "seed"):
        if key in raw:
            raise DabenchError(f"{path}: a stream benchmark lists `{key}s`, not `{key}`")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds) or \
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise DabenchError(f"{path}: seeds must list distinct integers >= 0, got {seeds!r}")
    entries = raw.get("methods") or STREAM_METHODS.names()
    methods, method_seeds = {}, {}
    for entry in ["source", *(e for e in entries if e not in ("source", {"name": "source"}))]:
        spec = {"name": entry} if isinstance(entry, str) else dict(entry)
        label = spec.pop("label", None) or spec.get("name")
        method_seeds[label] = spec.pop("seeds", seeds)
        if not set(method_seeds[label]) <= set(seeds) or not method_seeds[label]:
            raise DabenchError(f"{path}: method {label}: its seeds {method_seeds[label]!r} must be some of the "
                               f"file's seeds {seeds}")
        if label in methods:
            raise DabenchError(f"{path}: methods lists {label} twice; give each variant its own 'label', e.g. "
                               f"{{name: tent, label: tent_lr1e-3, lr: 0.001}}")
        methods[label] = spec
    streams = raw.get("streams") or {"default": {}}
    if not isinstance(streams, dict) or not all(isinstance(v, dict) for v in streams.values()):
        raise DabenchError(f"{path}: streams maps a name to stream options, e.g. {{b1: {{batch_size: 1}}}}")
    shared = {k: v for k, v in raw.items() if k not in GRID_KEYS}
    cells = []
    for variant, options in streams.items():
        for label, spec in methods.items():
            for seed in method_seeds[label]:
                config = {**shared, "method": spec, "seed": seed, "stream": {**shared.get("stream", {}), **options}}
                try:
                    if check:
                        resolve_stream(config)
                except DabenchError as err:
                    raise DabenchError(f"{path}: stream {variant}, method {label}: {err}") from None
                cells.append((variant, label, seed, config))
    return {"name": raw.get("name", path.stem), "raw": {"name": raw.get("name", path.stem), **raw}, "methods": methods, "seeds": seeds,
            "streams": streams, "cells": cells}


def run_stream_benchmark(path: str | Path, out: str | Path, overrides: list[str] | None = None,
                         progress: bool = True) -> dict:
    """Run every missing cell of the stream benchmark at `path` into `out`, then write its tables and figure;
    returns {"md", "csv": the tables, "status": {variant/method/seed<k>: "ran" or "done"}}."""
    grid = load_stream_grid(path, overrides)
    root = make_folder(out)
    restored = restore_committed(root)
    if progress and restored:
        print(f"{root}: {restored} finished stream(s) taken from its results.json, not run again", flush=True)
    write_bytes_atomic(yaml.safe_dump(grid["raw"], sort_keys=False, allow_unicode=True).encode(), root / "grid.yaml")
    status = {}
    for i, (variant, label, seed, config) in enumerate(grid["cells"]):
        folder = root / "runs" / variant / label / f"seed{seed}"
        cell = f"{variant}/{label}/seed{seed}"
        status[cell] = "done" if (folder / "result.json").exists() else "ran"
        if progress:
            print(f"[{i + 1}/{len(grid['cells'])}] {variant} {label} seed {seed}", flush=True)
        try:
            run_stream(config, folder)
            (folder / "failed.json").unlink(missing_ok=True)
        except Exception as err:  # noqa: BLE001 - a method that breaks on this stream is a result, not a crash
            status[cell] = "failed"
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            write_json_atomic({"error": f"{type(err).__name__}: {reason}"}, folder / "failed.json")
            if progress:
                print(f"  failed: {type(err).__name__}: {reason}", flush=True)
    return {**write_stream_tables(root), "status": status}


def committed_only(root: Path) -> bool:
    """Whether `root` is a results folder that keeps only results.json, not its run folders (a committed one)."""
    return not (root / "runs").is_dir() and (root / "results.json").is_file()


def restore_committed(root: Path) -> int:
    """Each finished stream of a committed results folder goes back into its run folder (without its curve), so
    that a rerun into the folder completes the missing cells and recomputes none; returns how many."""
    if not committed_only(root):
        return 0
    count = 0
    for variant, by_label in read_json(root / "results.json").items():
        for label, runs in by_label.items():
            for run in runs:
                folder = make_folder(root / "runs" / variant / label / f"seed{run['seed']}")
                write_json_atomic(run, folder / "result.json")
                count += 1
    return count


def _results(root: Path, grid: dict) -> tuple[dict[str, dict[str, list[dict]]], list[str]]:
    """({variant: {label: [result of each finished seed]}}, ["variant/label/seed<k>: error" of each failed run])
    from the run folders, or, in a committed results folder without them, from its results.json (the results
    without their curves) and failed_runs.json."""
    if committed_only(root):
        failures = root / "failed_runs.json"
        return read_json(root / "results.json"), read_json(failures)["failed"] if failures.is_file() else []
    found, failed = {}, []
    for variant in grid["streams"]:
        for label in grid["methods"]:
            folders = [root / "runs" / variant / label / f"seed{seed}" for seed in grid["seeds"]]
            runs = [read_json(f / "result.json") for f in folders if (f / "result.json").exists()]
            failed += [f"{variant}/{label}/{f.name}: {read_json(f / 'failed.json')['error']}" for f in folders
                       if (f / "failed.json").exists()]
            if runs:
                found.setdefault(variant, {})[label] = runs
    return found, failed


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def _seconds(wall: float) -> str:
    return f"{wall:.1f}" if wall < 10 else f"{wall:.0f}"


def _mean_error(run: dict, key: str) -> float:
    return 100 - float(np.mean(list(run[key].values())))


def _negative(runs: list[dict], source: list[dict]) -> bool:
    baseline = {r["seed"]: r["online_accuracy"] for r in source}
    return any(r["online_accuracy"] < baseline.get(r["seed"], -1) for r in runs)


def _row_label(label: str, runs: list[dict], seeds: list[int], negative: bool) -> str:
    missing = len(runs) < len(seeds)
    return (f"{label}{' ▼' if negative else ''}"
            + (f" (seed{'s' if len(runs) > 1 else ''} {', '.join(str(r['seed']) for r in runs)})" if missing else ""))


def domain_table(results: dict[str, list[dict]], seeds: list[int]) -> list[str]:
    """One stream: the online error per target domain, their mean, and the final model's mean error."""
    targets = segment_names(next(iter(results.values()))[0]["targets"])
    header = ["method", *targets, "mean", "final model, mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, runs in results.items():
        errors = [mean_std([100 - r["online_accuracy_per_domain"][d] for r in runs]) for d in targets]
        mean = mean_std([_mean_error(r, "online_accuracy_per_domain") for r in runs])
        final = mean_std([_mean_error(r, "final_model_accuracy") for r in runs])
        negative = label != "source" and _negative(runs, results["source"])
        lines.append(f"| {_row_label(label, runs, seeds, negative)} | " + " | ".join(errors) + f" | {mean} | {final} |")
    return lines


def study_table(results: dict[str, dict[str, list[dict]]], grid: dict, failed: list[str]) -> list[str]:
    """A study: the mean online error over the domains, one column per stream variant; "failed" where every run of
    a method on that stream failed."""
    variants, labels, seeds = list(results), list(grid["methods"]), grid["seeds"]
    lines = ["| method | " + " | ".join(variants) + " |", "|" + "---|" * (len(variants) + 1)]
    for label in labels:
        cells = []
        for variant in variants:
            runs = results[variant].get(label)
            if not runs:
                cells.append("failed" if any(f.startswith(f"{variant}/{label}/") for f in failed) else "–")
                continue
            negative = label != "source" and _negative(runs, results[variant].get("source", []))
            shown = mean_std([_mean_error(r, "online_accuracy_per_domain") for r in runs])
            cells.append(f"{shown}{' ▼' if negative else ''}"
                         + (f" ({len(runs)} of {len(seeds)} seeds)" if len(runs) < len(seeds) else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def significance_lines(results: dict[str, dict[str, list[dict]]]) -> list[str]:
    """Each method against the source model on the same stream variant and seeds (the paired t-test over seeds of
    the online accuracy, Holm-adjusted over every cell, as `dabench table` does for training runs); for one stream,
    also the Friedman test over its domains and the Nemenyi post-hoc test (dabench.bench.ranking)."""
    import pandas as pd

    from dabench.bench import ranking
    from dabench.bench.report import ALPHA, gains

    values = pd.DataFrame([{"method": label, "pair": variant, "seed": r["seed"], "value": r["online_accuracy"]}
                           for variant, by_label in results.items() for label, runs in by_label.items()
                           for r in runs], columns=["method", "pair", "seed", "value"])
    labels = list(dict.fromkeys(values.method))
    tested = gains(values, labels, list(results), baseline="source").dropna(subset=["p_value"])
    cells = [f"{row.method}{'' if len(results) == 1 else f' ({row.pair})'} {row.gain:+.1f} (p = {row.p_holm:.2g})"
             + ("" if row.p_holm < ALPHA else " †") for row in tested.itertuples()]
    lines = ["## Significance", "",
             "Online accuracy gain over the source model on the same stream and seeds (points; paired t-test over "
             "seeds, Holm-adjusted over the " + f"{len(tested)} cells; †: not significant at α = {ALPHA}): "
             + ("; ".join(cells) if cells else "none computed (a cell needs 2 seeds with differing gains)") + "."]
    if len(results) == 1:
        (by_label,) = results.values()
        domains = segment_names(next(iter(by_label.values()))[0]["targets"])
        means = pd.DataFrame({label: [np.mean([r["online_accuracy_per_domain"][d] for r in runs]) for d in domains]
                              for label, runs in by_label.items()}, index=domains).T
        lines += ["", *ranking.verdict(ranking.friedman(means), ALPHA, blocks="domains"),
                  "The domains of one continual stream are not independent data sets (the model carries over from "
                  "one to the next): read these ranks as descriptive."]
    return lines


def curves_figure(results: dict[str, dict[str, list[dict]]], path: Path) -> None:
    """The online accuracy over the stream after each batch, every method, first seed; one panel per variant."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2 * len(results)))
    for ax, (variant, by_label) in zip(np.atleast_1d(fig.subplots(len(results), 1)), results.items()):
        for label, runs in by_label.items():
            ax.plot(range(1, len(runs[0]["curve"]) + 1), runs[0]["curve"], lw=1.1, label=label)
        first = by_label["source"][0] if "source" in by_label else next(iter(by_label.values()))[0]
        start = 0
        for name in segment_names(first["targets"]):
            ax.axvline(start + 0.5, color="grey", lw=0.5)
            ax.text(start + 1, 1, name, fontsize=6, rotation=90, va="bottom")
            start += first["batches_per_domain"][name]
        ax.set_xlabel("batch")
        ax.set_ylabel("online accuracy so far (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=6, ncol=4)
        ax.set_title(f"{variant}: {first['source']} → {' → '.join(first['targets'][:4])}"
                     f"{' → …' if len(first['targets']) > 4 else ''}, seed {first['seed']}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


PAPER_RESULTS = shipped("paper_results") / "test_time.json"


def source_model(first: dict) -> str:
    """What the stream's source model is: trained here on the source domain, or a backbone's pretrained head."""
    stage = first["source_stage"]
    if first["source"] == NO_SOURCE:
        return f"{stage['classifier']} ({json.dumps(stage['model']['backbone'])})"
    return (f"{stage['method']['name']} for {stage['steps']} steps, source test accuracy "
            f"{stage['source_test_accuracy']:.1f}% (seed {first['seed']})")


def published_lines(first: dict, labels: list[str]) -> list[str]:
    """The published online errors of paper_results/test_time.json whose dataset, backbone (and its weights where
    the record names them), targets and setting are this stream's, for the methods in `labels`; else one line
    saying there are none."""
    run = first["config"]["run"]
    setting = "test-time continual" if len(first["targets"]) > 1 else "test-time online"
    spec = run["model"]["backbone"]
    backbone, weights = (spec["name"], spec.get("weights")) if isinstance(spec, dict) else (spec, None)
    records = json.loads(PAPER_RESULTS.read_text()) if PAPER_RESULTS.exists() else []
    found = [r for r in records if r.get("dabench_dataset") == run["dataset"]["name"] and r.get("setting") == setting
             and r.get("dabench_backbone") == backbone and r.get("dabench_weights", weights) == weights
             and r.get("dabench_targets") == first["targets"] and r.get("dabench_method") in labels]
    if not found:
        return [f"- Published numbers: none with this protocol (dataset {run['dataset']['name']}, backbone {backbone}, "
                f"these targets; paper_results/test_time.json)."]
    return ["- Published online error, same dataset, backbone and stream: " + "; ".join(
        f"{r['dabench_method']} {r['error']:.1f} ({r['kind']}, {r['source']})" for r in found) + "."]


def write_stream_tables(root: str | Path, write: bool = True) -> dict:
    """table.md, per_domain.csv, curves.png, results.json (and failed_runs.json, if any failed) of the stream
    benchmark in `root` from its runs (`dabench table ROOT` renders them again, `--write` writes them); returns
    {"md": the table, "csv": per_domain.csv}."""
    root = Path(root)
    grid = load_stream_grid(root / "grid.yaml", check=False)
    results, failed = _results(root, grid)
    if "source" not in next(iter(results.values()), {}):
        raise DabenchError(f"{root}: no finished source stream yet; run `dabench bench {root / 'grid.yaml'} --out "
                           f"{root}`")
    first = next(iter(results.values()))["source"][0]
    options = {variant: {**first["config"]["stream"], **grid["streams"][variant]} for variant in results}
    one = len(results) == 1
    shape = f"{'continual, no reset between domains' if len(first['targets']) > 1 else 'online'}"
    streams = "; ".join(f"{v}: batch {o['batch_size']}, order {o['order']}"
                        + (f" (alpha {o['dirichlet_alpha']})" if o["order"] == "dirichlet" else "")
                        + (", episodic" if o["episodic"] else "") for v, o in options.items())
    versions = sorted({r["git_commit"] for by_label in results.values() for runs in by_label.values() for r in runs})
    wall = {label: [r["wall_s"] for runs in [by_label[label] for by_label in results.values() if label in by_label]
                    for r in runs] for label in grid["methods"]}
    lines = [f"# {grid['name']}: online error (%), dataset {first['config']['run']['dataset']['name']}", "",
             f"Source {first['source']}; the stream {' → '.join(first['targets'])} ({shape}); {streams}; mean ± std "
             f"over seeds {grid['seeds']}. Online error: 100 − the accuracy of the predictions each method returned "
             f"when a batch arrived" + ("; mean: over the domains; final model: its error on a second pass over each "
                                        "domain's inputs after the whole stream, keeping nothing it sees then"
                                        if one else "; each cell: the mean over the domains")
             + ". ▼: online accuracy below the source model's on the same stream and some seed (negative transfer).",
             "", *(domain_table(next(iter(results.values())), grid["seeds"]) if one
                   else study_table(results, grid, failed)),
             *(["", "Failed runs (a method that breaks on a stream is reported, not retried silently):", "",
                *[f"- {f}" for f in failed]] if failed else []), "", *significance_lines(results), "",
             "## Protocol", "", f"- {PROTOCOL}.",
             f"- Source model: {source_model(first)}.",
             "- Methods: " + "; ".join(f"{label}: {json.dumps(spec)}" for label, spec in grid["methods"].items())
             + " (unset parameters at the defaults in each method's docstring).",
             *published_lines(first, list(grid["methods"])),
             f"- dabench {first['versions']['dabench']}, commit(s) {', '.join(versions)}; torch "
             f"{first['versions']['torch']}; device {first['device']}.",
             "- Wall time per stream: " + ", ".join(f"{label} {_seconds(min(w))}-{_seconds(max(w))} s" for label, w in wall.items()
                                                    if w)
             + " (a seed's first stream includes training its source model unless the cache has it)."]
    table = "\n".join(lines) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["stream", "method", "seed", "domain", "online_error", "final_model_error"])
    for variant, by_label in results.items():
        for label, runs in by_label.items():
            for r in runs:
                for d in segment_names(r["targets"]):
                    writer.writerow([variant, label, r["seed"], d, f"{100 - r['online_accuracy_per_domain'][d]:.4f}",
                                     f"{100 - r['final_model_accuracy'][d]:.4f}"])
    if not write:
        return {"md": table, "csv": buffer.getvalue()}
    write_bytes_atomic(table.encode(), root / "table.md")
    write_bytes_atomic(buffer.getvalue().encode(), root / "per_domain.csv")
    if all("curve" in r for by_label in results.values() for runs in by_label.values() for r in runs):
        curves_figure(results, root / "curves.png")  # a committed folder's results.json keeps no curves: kept as is
    write_json_atomic({variant: {label: [{k: v for k, v in r.items() if k != "curve"} for r in runs]
                                 for label, runs in by_label.items()} for variant, by_label in results.items()},
                      root / "results.json")
    if failed:
        write_json_atomic({"failed": failed}, root / "failed_runs.json")
    else:
        (root / "failed_runs.json").unlink(missing_ok=True)
    return {"md": table, "csv": buffer.getvalue()}
