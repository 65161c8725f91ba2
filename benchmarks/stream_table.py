"""Every test-time method on one stream config, over seeds: the online error table and the curves.

    python benchmarks/stream_table.py configs/streams/digits_continual.yaml --seeds 0 1 2 \
        --runs runs/tta_digits --out benchmarks/results/tta_digits

Runs (or resumes, or reuses) one `dabench stream` folder per method and seed under --runs, then writes to
--out: table.md (online error per domain and its mean over domains, mean ± std over seeds; the final
model's error on a second pass), curves.png (online accuracy over the stream, seed 0) and results.json (every run's result).
A run whose online accuracy falls below the source model's on the same seed is marked as negative transfer.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dabench.config_files import load_yaml
from dabench.io import make_folder, save_figure, write_json_atomic
from dabench.stream.base import STREAM_METHODS
from dabench.stream.protocol import PROTOCOL, run_stream


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def table(results: dict[str, list[dict]], targets: list[str]) -> list[str]:
    header = ["method", *targets, "mean", "final model, mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    source = {r["seed"]: r["online_accuracy"] for r in results["source"]}
    for method, runs in results.items():
        errors = {d: [100 - r["online_accuracy_per_domain"][d] for r in runs] for d in targets}
        mean = [np.mean([100 - r["online_accuracy_per_domain"][d] for d in targets]) for r in runs]
        final = [100 - np.mean(list(r["final_model_accuracy"].values())) for r in runs]
        worse = method != "source" and any(r["online_accuracy"] < source[r["seed"]] for r in runs)
        lines.append(f"| {method}{' ▼' if worse else ''} | " + " | ".join(mean_std(errors[d]) for d in targets)
                     + f" | {mean_std(mean)} | {mean_std(final)} |")
    return lines


def curves(results: dict[str, list[dict]], path: Path) -> None:
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    for method, runs in results.items():
        ax.plot(range(1, len(runs[0]["curve"]) + 1), runs[0]["curve"], lw=1.2, label=method)
    start = 0
    first = next(iter(results.values()))[0]
    for domain in first["targets"]:
        ax.axvline(start + 0.5, color="grey", lw=0.5)
        ax.text(start + 1, 1, domain, fontsize=8)
        start += first["batches_per_domain"][domain]
    ax.set_xlabel("batch")
    ax.set_ylabel("online accuracy so far (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=3)
    ax.set_title(f"{first['source']} → {' → '.join(first['targets'])}, seed {first['seed']}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", help="default: every registered test-time method")
    parser.add_argument("--runs", type=Path, required=True, help="the dabench stream folders")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    raw = load_yaml(args.config)
    methods = ["source", *[m for m in (args.methods or STREAM_METHODS.names()) if m != "source"]]
    results = {m: [run_stream({**raw, "method": m, "seed": seed}, args.runs / f"{m}_seed{seed}")
                   for seed in args.seeds] for m in methods}
    targets = raw["targets"]
    out = make_folder(args.out)
    first = results["source"][0]
    lines = [f"# {args.config.stem}: online error (%), {raw['dataset']['name'] if isinstance(raw['dataset'], dict) else raw['dataset']}",
             "", f"Source {first['source']}; the stream {' → '.join(targets)} "
             f"({'continual, no reset between domains' if len(targets) > 1 else 'online'}), batch "
             f"{first['config']['stream']['batch_size']}, order {first['config']['stream']['order']}; "
             f"mean ± std over seeds {args.seeds}. Online error: 100 − the accuracy of the predictions each method "
             f"returned when a batch arrived; mean: over the domains; final model: its error on a second pass over "
             f"each domain's inputs after the whole stream, without keeping what it sees. ▼: online accuracy below the source model's on some seed "
             f"(negative transfer).", "", *table(results, targets), "", "## Protocol", "",
             f"- {PROTOCOL}.",
             f"- Source model: {first['source_stage']['method']['name']} for {first['source_stage']['steps']} steps, "
             f"source test accuracy {first['source_stage']['source_test_accuracy']:.1f}% (seed {first['seed']}).",
             "- Methods at their defaults: " + "; ".join(f"{m}: {json.dumps(results[m][0]['config']['method'])}"
                                                          for m in methods) + ".",
             f"- dabench {first['versions']['dabench']}, commit(s) "
             f"{', '.join(sorted({r['git_commit'] for runs in results.values() for r in runs}))}; torch "
             f"{first['versions']['torch']}; device {first['device']}.",
             "- Wall time per stream: " + ", ".join(f"{m} {min(r['wall_s'] for r in runs):.0f}-"
                                                    f"{max(r['wall_s'] for r in runs):.0f} s" for m, runs in results.items())
             + " (a seed's first stream includes training its source model unless the cache has it)."]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    curves(results, out / "curves.png")
    write_json_atomic({m: [{k: v for k, v in r.items() if k != "curve"} for r in runs] for m, runs in results.items()},
                      out / "results.json")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
