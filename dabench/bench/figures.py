"""Figures of a benchmark (matplotlib figures saved atomically as PNG): transfer-gain heatmap, average accuracy bars,
and a t-SNE of source and target features before and after adaptation with the proxy
A-distance (Ben-David et al., NeurIPS 2007 / JMLR 2010)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure  # not pyplot: no backend switch, so notebooks keep theirs
from tqdm.auto import tqdm

from dabench.bench.report import gains, grid_rule, run_values
from dabench.bench.store import ResultStore
from dabench.io import save_figure


def metric_name(rows: list[dict]) -> str:
    """What the runs' target score is: "H-score" for open-set runs, else "accuracy"."""
    return "H-score" if rows and rows[0].get("metric") == "h_score" else "accuracy"


def gain_heatmap(root: Path, path: Path) -> None:
    store = ResultStore(root)
    grid, rows = store.grid(), store.rows()
    baseline = grid.get("baseline", "source_only")
    methods = [m for m in grid["methods"] if m != baseline and any(r["method"] == m for r in rows)]
    pairs = [f"{s}→{t}" for s, t in grid["pairs"]]
    values = run_values(rows, select=grid_rule(grid))
    g = gains(values, [baseline, *methods], pairs, baseline).pivot(index="method", columns="pair", values="gain")
    g = g.reindex(index=methods, columns=pairs)
    limit = max(1.0, float(np.nanmax(np.abs(g.values))))
    fig = Figure(figsize=(max(6.0, 2.5 + 0.9 * len(pairs)), 2.2 + 0.5 * len(methods)))
    ax = fig.subplots()
    image = ax.imshow(g.values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(g.values):
        dark = not np.isnan(value) and abs(value) > 0.6 * limit
        ax.text(j, i, "–" if np.isnan(value) else f"{value:+.1f}", ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    ax.set_xticks(range(len(pairs)), pairs, rotation=45, ha="right")
    ax.set_yticks(range(len(methods)), methods)
    ax.set_xlabel("source → target")
    ax.set_title(f"{grid['name']}\ntarget-{metric_name(rows)} gain over {baseline} (points)")
    fig.colorbar(image, ax=ax, label="gain (points)")
    fig.tight_layout()
    save_figure(fig, path)


def accuracy_bars(root: Path, path: Path) -> None:
    """Average target accuracy over pairs per method, best at the top, as horizontal bars (readable
    for any number of methods); error bars: std over seeds of the per-seed average; the baseline's
    bar and a dashed line at its value in grey."""
    store = ResultStore(root)
    grid, rows = store.grid(), store.rows()
    values = run_values(rows, select=grid_rule(grid))
    baseline = grid.get("baseline", "source_only")
    per_seed = values.groupby(["method", "seed"])["value"].mean()
    stats = pd.DataFrame({"mean": per_seed.groupby("method").mean(),
                          "std": per_seed.groupby("method").std(ddof=1).fillna(0.0)}).sort_values("mean")
    fig = Figure(figsize=(7.0, 1.2 + 0.32 * len(stats)))
    ax = fig.subplots()
    colors = ["tab:gray" if m == baseline else "tab:blue" for m in stats.index]
    ax.barh(stats.index, stats["mean"], xerr=stats["std"], capsize=3, color=colors)
    for i, (mean, std) in enumerate(zip(stats["mean"], stats["std"])):
        ax.text(mean + std + 0.5, i, f"{mean:.1f}", va="center", fontsize=8)
    if baseline in stats.index:
        ax.axvline(stats.loc[baseline, "mean"], color="tab:gray", linestyle="--", linewidth=1)
    ax.set_xlabel(f"target {metric_name(rows)} (%), mean over pairs (± std over seeds)")
    ax.set_title(f"{grid['name']}: average {metric_name(rows)} over {values.pair.nunique()} pair(s)")
    ax.set_xlim(0, min(100.0, float((stats["mean"] + stats["std"]).max()) + 8))
    ax.margins(y=0.01)
    fig.tight_layout()
    save_figure(fig, path)


def selection_scatter(root: Path, path: Path) -> None:
    """One panel per label-free rule (source validation accuracy and each validator): its score against
    target test accuracy, one point per checkpoint of every run, coloured by method."""
    from dabench.selection import rules

    store = ResultStore(root)
    grid, rows = store.grid(), store.rows()
    scored = [r for r in rules.rule_names() if r not in ("last", "oracle")]
    methods = [m for m in grid["methods"] if any(r["method"] == m for r in rows)]
    columns = min(4, len(scored))
    fig = Figure(figsize=(3.2 * columns, 2.9 * -(-len(scored) // columns) + 0.6))
    axes = fig.subplots(-(-len(scored) // columns), columns, squeeze=False).flatten()
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for ax, rule in zip(axes, scored):
        key, sign = rules.score_key(rule)
        for method in methods:
            records = [rec for r in rows if r["method"] == method for rec in r["records"] if key in rec]
            ax.scatter([rec[key] for rec in records], [rec[rules.ORACLE_KEY] for rec in records], s=6,
                       alpha=0.6, color=colors[method], label=method)
        ax.set_title(f"{rule} ({'higher' if sign > 0 else 'lower'} is better)", fontsize=9)
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel("target test acc (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(scored):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(methods), 8), fontsize=7, markerscale=2)
    fig.suptitle(f"{grid['name']}: label-free scores vs target accuracy, one point per checkpoint")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_figure(fig, path)


def cell_features(cell_dir: Path, limit: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Bottleneck features (n, d) of the source train and target test inputs, from a cell's checkpoint."""
    from dabench.run import Run

    run = Run.restore(cell_dir)
    data, method = run.data, run.method
    with torch.no_grad():
        source = method.model(data.source_train.x[:limit]).features.numpy()
        target = method.model(data.target_test.x[:limit]).features.numpy()
    return source, target


def proxy_a_distance(source: np.ndarray, target: np.ndarray, seed: int = 0) -> float:
    """PAD = 2 (1 - 2 err), err the test error of a linear classifier telling source from target
    (half of each domain trains it, half tests it). 0: indistinguishable; 2: separable."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source, target])
    y = np.r_[np.zeros(len(source)), np.ones(len(target))]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(x_train), y_train)
    err = 1 - clf.score(scaler.transform(x_test), y_test)
    return 2 * (1 - 2 * err)


def tsne_before_after(before_dir: Path, after_dir: Path, labels: tuple[str, str], path: Path,
                      seed: int = 0, run: str = "") -> dict[str, float]:
    """Side-by-side t-SNE of source (blue) and target (orange) features; returns both proxy A-distances.

    openTSNE (FFT-accelerated, Poličar et al., JSS 2024), several times faster than scikit-learn's
    exact-gradient Barnes-Hut here, prints its progress.
    """
    from openTSNE import TSNE

    fig = Figure(figsize=(10, 4.8))
    axes = fig.subplots(1, 2)
    pads = {}
    for ax, cell_dir, label in zip(axes, (before_dir, after_dir), labels):
        source, target = cell_features(cell_dir)
        pads[label] = proxy_a_distance(source, target, seed)
        tqdm.write(f"figures: t-SNE of {len(source) + len(target)} feature vectors of {label}")
        embedded = np.asarray(TSNE(n_components=2, initialization="pca", random_state=seed, perplexity=30,
                                   n_jobs=1, verbose=True).fit(np.concatenate([source, target]).astype(np.float64)))
        ax.scatter(*embedded[:len(source)].T, s=3, alpha=0.5, label="source", color="tab:blue")
        ax.scatter(*embedded[len(source):].T, s=3, alpha=0.5, label="target", color="tab:orange")
        ax.set_title(f"{label}: proxy A-distance {pads[label]:.2f}")
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.legend(markerscale=4)
    fig.suptitle(f"Bottleneck features of source and target, before and after adaptation {run}".strip())
    fig.tight_layout()
    save_figure(fig, path)
    return pads
