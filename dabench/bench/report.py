"""Tables from a results store: accuracy mean ± std over seeds, transfer gain over the baseline
with a paired test, published numbers beside ours, and a protocol footer. Markdown, CSV, LaTeX.

Everything here is a function of results.jsonl and grid.json, so ``dabench table`` reproduces
the benchmark's own table.md byte for byte.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from dabench import protocols
from dabench.bench import ranking
from dabench.bench.store import ResultStore
from dabench.config_files import shipped
from dabench.data.loaders import NO_SOURCE, source_domains
from dabench.errors import DabenchError
from dabench.io import write_bytes_atomic
from dabench.selection import rules

PAPER_RESULTS = shipped("paper_results")
ALPHA = 0.05
# The open-set metrics besides the H-score (target_test_acc in open-set runs), by table column.
OPEN_SET_KEYS = {"OS*": "target_test_os_star", "UNK": "target_test_unk", "OS": "target_test_os"}


def run_values(rows: list[dict], metric: str = "target_accuracy", select: str = "last") -> pd.DataFrame:
    """Long table: method, source, target, pair, seed, value (percent), step and sweep point: per run
    group (method, pair, seed), the checkpoint and sweep point chosen by the selection rule `select`."""
    key = {"target_accuracy": rules.ORACLE_KEY, "source_accuracy": "source_val_acc", **OPEN_SET_KEYS}[metric]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["source"], row["target"], row["seed"]), []).append(row)
    out = []
    for (method, source, target, seed), runs in groups.items():
        i, j = rules.select([run["records"] for run in runs], select)
        record = runs[i]["records"][j]
        out.append({"method": method, "source": source, "target": target, "pair": f"{source}→{target}",
                    "seed": seed, "value": record[key], "step": record["step"], "sweep": runs[i].get("sweep", {})})
    return pd.DataFrame(out, columns=["method", "source", "target", "pair", "seed", "value", "step", "sweep"])


def grid_rule(grid: dict) -> str:
    """The selection rule a benchmark file names for its tables (``select:``), else ``last``."""
    return grid.get("benchmark", {}).get("select") or "last"


def accuracy_stats(values: pd.DataFrame, methods: list[str],
                   pairs: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean, std (ddof=1; 0 for one seed) and n per (method, pair); avg over pairs and avg rank per method)."""
    grouped = values.groupby(["method", "pair"])["value"]
    table = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1).fillna(0.0), "n": grouped.count()})
    table = table.reindex(pd.MultiIndex.from_product([methods, pairs], names=["method", "pair"]))
    means = table["mean"].unstack("pair").reindex(index=methods, columns=pairs)
    ranks = means.rank(axis=0, ascending=False, method="average")
    summary = pd.DataFrame({"avg": means.mean(axis=1, skipna=False), "rank": ranks.mean(axis=1, skipna=False)})
    return table, summary


def gains(values: pd.DataFrame, methods: list[str], pairs: list[str], baseline: str = "source_only") -> pd.DataFrame:
    """Per (method, pair): mean of (method - baseline) over seeds both have, n, the paired t-test p-value, and
    that p-value Holm-adjusted over every cell of the table (``p_holm``)."""
    base = values[values.method == baseline].set_index(["pair", "seed"])["value"]
    rows = []
    for method in methods:
        if method == baseline:
            continue
        ours = values[values.method == method].set_index(["pair", "seed"])["value"]
        for pair in pairs:
            both = pd.concat([ours.xs(pair, level="pair", drop_level=True) if pair in ours.index.get_level_values(0)
                              else pd.Series(dtype=float),
                              base.xs(pair, level="pair", drop_level=True) if pair in base.index.get_level_values(0)
                              else pd.Series(dtype=float)], axis=1, keys=["m", "b"]).dropna()
            diff = both["m"] - both["b"]
            p = stats.ttest_rel(both["m"], both["b"]).pvalue if len(diff) >= 2 and diff.std() > 0 else np.nan
            if len(diff) >= 2 and diff.std() == 0 and diff.iloc[0] != 0:
                p = 0.0  # identical nonzero gains on every seed: the t statistic is infinite
            rows.append({"method": method, "pair": pair, "gain": diff.mean() if len(diff) else np.nan,
                         "n": len(diff), "p_value": p})
    out = pd.DataFrame(rows, columns=["method", "pair", "gain", "n", "p_value"])
    out["p_holm"] = ranking.holm(out["p_value"])
    return out


def published(dataset: str, backbone: str, methods: list[str], pairs: list[tuple[str, str]],
              setting_name: str = "closed-set") -> pd.DataFrame:
    """Published numbers from paper_results/ for this dataset, backbone and setting (a record without
    ``setting`` is closed-set); reproductions under a named protocol first, then the papers' own numbers."""
    records = []
    for path in sorted(PAPER_RESULTS.glob("*.json")):
        records += [r for r in json.loads(path.read_text()) if r.get("dabench_dataset") == dataset
                    and r.get("dabench_backbone") == backbone and r.get("accuracy") is not None
                    and r.get("setting", "closed-set") == setting_name]
    rows = []
    for method in methods:
        for source, target in pairs:
            found = [r for r in records if r.get("dabench_method") == method and r["dabench_pair"] == [source, target]]
            found.sort(key=lambda r: (r["kind"] != "reproduction", "protocol" not in r))
            if found:
                best = found[0]
                rows.append({"method": method, "pair": f"{source}→{target}", "published": best["accuracy"],
                             "published_method": best["method"], "kind": best["kind"],
                             "protocol": best.get("protocol", ""), "source": best["source"]})
    return pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)


PUBLISHED_COLUMNS = ["method", "pair", "published", "published_method", "kind", "protocol", "source"]


def _fmt(x: float, spec: str = ".1f") -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, spec)


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _digest(value: str | list[str]) -> str:
    """First 12 hex digits; results from before dabench recorded the file's own digest list the accepted ones."""
    return value[:12] if isinstance(value, str) else "one of " + "/".join(v[:12] for v in value)


def protocol_footer(rows: list[dict], select: str) -> list[str]:
    swept = any(r.get("sweep") for r in rows)
    cfg = rows[0]["config"]
    commits = sorted({r["git_commit"] for r in rows})
    devices = sorted({r["device"] for r in rows})
    files = {}
    for r in rows:
        files.update(r.get("data_files", {}))
    backbone = {k: v for k, v in cfg["model"]["backbone"].items()}
    notes = yaml.safe_load((PAPER_RESULTS / "protocol_notes.yaml").read_text()).get(cfg["dataset"]["name"], [])
    task = cfg["source"] == NO_SOURCE
    validation = "none (task adaptation: every label of the budget trains)" if task else \
        f"{cfg['val_fraction']:.0%} of source train held out"
    batches = (f"batch {cfg['trainer']['batch_size']} labeled target samples (task adaptation: no source, no "
               f"unlabeled target batch)" if task else
               f"batch {cfg['trainer']['batch_size']} source + "
               f"{'no target batch' if cfg.get('unseen_target') else str(cfg['trainer']['batch_size']) + ' target'}")
    return [
        f"- Selection: {rules.describe(select, swept)}. Seeds: {sorted({r['seed'] for r in rows})}.",
        *sweep_footer(rows),
        f"- Dataset: {json.dumps(cfg['dataset'])}; protocol: {rows[0]['protocol']}; validation: {validation}.",
        f"- Model: backbone {json.dumps(backbone)}, bottleneck {cfg['model']['bottleneck_dim']}.",
        *_setting_footer(cfg),
        f"- Training: {sorted({r['steps'] for r in rows})} steps, {batches}; {optimizer_summary(cfg['optim'])}.",
        f"- dabench {rows[0]['versions'].get('dabench')}, commit {', '.join(commits)}; torch "
        f"{rows[0]['versions'].get('torch')}; device {'; '.join(devices)}.",
        "- Data files (sha256): " + (", ".join(f"`{Path(k).name}` {_digest(v)}" for k, v in sorted(files.items()))
                                     or "none read from the data root (package or generated data)") + ".",
        *protocols.footer(rows),
        *_per_method_settings(rows),
        *[f"- Protocol difference: {note}" for note in notes],
    ]


def optimizer_summary(optim: dict) -> str:
    """"SGD lr 0.01 (momentum 0.9, weight decay 0.0005, schedule inv)", or Adam's/AdamW's betas instead of momentum."""
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}[optim.get("optimizer", "sgd")]
    moments = f"momentum {optim['momentum']}" if name == "SGD" else f"betas {tuple(optim['betas'])}"
    return f"{name} lr {optim['lr']} ({moments}, weight decay {optim['weight_decay']}, schedule {optim['schedule']})"


def sweep_footer(rows: list[dict]) -> list[str]:
    """A line naming the swept values, if the benchmark has a sweep."""
    values: dict[str, list] = {}
    for row in rows:
        for key, value in row.get("sweep", {}).items():
            values.setdefault(key, [])
            if value not in values[key]:
                values[key].append(value)
    if not values:
        return []
    swept = "; ".join(f"{k} ∈ {sorted(v)}" for k, v in values.items())
    points = pd.Series([(r["method"], json.dumps(r.get("sweep"), sort_keys=True)) for r in rows]).drop_duplicates()
    return [f"- Sweep: {swept} (up to {points.str[0].value_counts().max()} points per method; method.* keys only "
            f"for the methods that take them); each cell of the table is the point the selection rule chose for that "
            f"method, pair and seed."]


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key != "backbone":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def setting(cfg: dict) -> str:
    """The run's setting: multi-source DA (several sources), else by its class lists closed-set,
    partial, open-set or universal DA."""
    known, kept = cfg.get("source_classes"), cfg.get("target_classes")
    if cfg.get("unseen_target"):
        return "domain generalization"
    if cfg["source"] == NO_SOURCE:
        return "task adaptation"
    if cfg.get("target_labeled") and known is None and kept is None and len(source_domains(cfg["source"])) == 1:
        return "semi-supervised"
    if len(source_domains(cfg["source"])) > 1:
        return "multi-source"
    if known is None:
        return "closed-set" if kept is None else "partial"
    if kept is None:
        return "open-set"
    return "partial" if set(kept) <= set(known) else "open-set" if set(known) <= set(kept) else "universal"


def _setting_footer(cfg: dict) -> list[str]:
    """The line naming a setting beyond closed-set single-source DA, if the runs use one."""
    name, known, kept = setting(cfg), cfg.get("source_classes"), cfg.get("target_classes")
    if name == "closed-set":
        return []
    if name == "domain generalization":
        return ["- Setting: domain generalization: the target domain is unseen in training (no target sample, labeled "
                "or not, is read; `unseen_target`); the sources of each pair (joined by +) are the training domains, "
                "each source batch holding them in equal shares. Gains are over ERM (source_only)."]
    if name == "task adaptation":
        budget = (f"{cfg['target_labeled']} labels per class" if cfg.get("target_labeled")
                  else f"{cfg.get('target_label_fraction', 1.0):g} of each class's labels")
        start = (f"the run {cfg['model']['init_from_id']}" if cfg["model"].get("init_from_id")
                 else f"the backbone's own weights ({json.dumps(cfg['model']['backbone'])})")
        return [f"- Setting: task adaptation: no source domain; training reads {budget} of the target's train split, "
                f"drawn per seed (a split file under $DABENCH_CACHE/splits), and starts from {start}. Target accuracy "
                f"is on the target's test split (on a transductive dataset, its samples not labeled)."]
    if name == "semi-supervised":
        draw = "drawn per seed" if cfg.get("target_labeled_draw") == "per_seed" else "drawn with seed 0 for every seed"
        return [f"- Setting: semi-supervised DA: {cfg['target_labeled']} labeled target samples per class ({draw}) "
                f"besides the unlabeled target train split; on a transductive dataset they leave the scored set. "
                f"Published numbers of unsupervised DA are not shown beside it."]
    if name == "multi-source":
        return [f"- Setting: multi-source DA: the sources of each pair (joined by +) are one labeled source train split; "
                f"every source batch holds each source in equal shares ({cfg['trainer']['batch_size']} samples in all)."]
    source = "the source keeps all classes" if known is None else f"the source keeps {len(known)} classes {known}"
    target = "the target keeps all classes" if kept is None else f"the target keeps {len(kept)} classes {kept}"
    if name == "partial":
        return [f"- Setting: partial DA: {target} (train and test); {source}, and so does the classifier; "
                f"accuracy over the target's classes."]
    return [f"- Setting: {name} DA: {source}, the known ones (the classifier's outputs); {target} (train and test), "
            f"its samples of other classes labelled unknown. Metric: H-score = harmonic mean of OS* (mean per-class "
            f"accuracy over the known classes) and UNK (accuracy on unknown samples); OS = mean per-class accuracy "
            f"with unknown as one more class. A method without an unknown output predicts unknown when its top "
            f"softmax probability is below {cfg.get('unknown_threshold', 0.5)}."]


def _per_method_settings(rows: list[dict]) -> list[str]:
    """A line naming each table entry's run settings that differ from the first entry's, and first stages."""
    shared_keys = ("model", "optim", "trainer", "target_labeled", "target_label_fraction", "target_classes",
                   "source_classes",
                   "unknown_threshold", "val_fraction")
    swept = {key for r in rows for key in r.get("sweep", {})}
    reference = _flat({k: rows[0]["config"].get(k) for k in shared_keys})  # .get: rows from before a key existed
    notes = []
    for method in dict.fromkeys(r["method"] for r in rows):
        row = next(r for r in rows if r["method"] == method)
        own = _flat({k: row["config"].get(k) for k in shared_keys})
        diff = [f"{k}={json.dumps(v)}" for k, v in own.items() if reference.get(k) != v and k not in swept]
        if row.get("source_stage"):
            stage = row["source_stage"]
            first = f"starts from a cached {stage['steps']}-step first stage {json.dumps(stage['method'])}"
            if stage["model"] != row["config"]["model"]:
                first += f" with model {json.dumps(stage['model'])}"
            diff.append(first)
        if diff:
            notes.append(f"{method}: {', '.join(diff)}")
    return [f"- Per-method settings: {'; '.join(notes)}."] if notes else []


def open_set_rows(rows: list[dict], methods: list[str], pairs: list[str], select: str,
                  summary: pd.DataFrame) -> list[list[str]]:
    """[method, H-score, OS*, UNK, OS] per method: averages over pairs of the seed means."""
    parts = {}
    for column in OPEN_SET_KEYS:
        values = run_values([r for r in rows if r["method"] in methods], column, select)
        parts[column] = accuracy_stats(values, methods, pairs)[1]["avg"]
    return [[m, _fmt(summary.loc[m, "avg"]), *[_fmt(parts[c][m]) for c in OPEN_SET_KEYS]] for m in methods]


def render(root: str | Path, metric: str = "target_accuracy", methods: list[str] | None = None,
           select: str | None = None, diagram: Path | None = None) -> dict[str, str]:
    """{"md": ..., "csv": ..., "tex": ...} for the store at `root`, under the selection rule `select`
    (default: the benchmark file's ``select``, else ``last``); draws the critical-difference diagram
    to `diagram` when given and the Friedman test is defined."""
    store = ResultStore(root)
    grid, rows, failed = store.grid(), store.rows(), store.rows("failed")
    select = select or grid_rule(grid)
    rules.check(select)
    if not rows and failed:
        rows_text = "".join(f"- {r['method']} {r['source']}→{r['target']} seed {r['seed']}: {r['error']}\n"
                            for r in failed)
        return {"md": f"# {grid['name']}\n\nEvery run failed:\n\n{rows_text}", "csv": "", "tex": ""}
    if not rows:
        return {"md": f"# {grid['name']}\n\nNo finished runs yet.\n", "csv": "", "tex": ""}
    present = [m for m in grid["methods"] if m in {r["method"] for r in rows + failed}]
    unknown = [m for m in methods or [] if m not in present]
    if unknown:
        raise DabenchError(f"no finished runs of {', '.join(unknown)} in {root}; methods with results: "
                           f"{', '.join(present)}")
    methods = methods or present
    pairs = [f"{s}→{t}" for s, t in grid["pairs"]]
    values = run_values([r for r in rows if r["method"] in methods], metric, select)
    table, summary = accuracy_stats(values, methods, pairs)
    baseline = grid.get("baseline", "source_only")
    gain = gains(values, methods, pairs, baseline) if baseline in methods else pd.DataFrame()
    cfg = rows[0]["config"]
    # Only numbers of the same setting: a closed-set number beside a partial-DA one would compare two settings.
    pub = published(cfg["dataset"]["name"], cfg["model"]["backbone"]["name"], methods,
                    [tuple(p) for p in grid["pairs"]], setting(cfg))
    open_set = rows[0].get("metric") == "h_score"

    what = {"target_accuracy": "target H-score (%)" if open_set else "target accuracy (%)",
            "source_accuracy": "source (in-domain) accuracy (%)", **{k: f"target {k} (%)" for k in OPEN_SET_KEYS}}[metric]
    md = [f"# {grid['name']}: {what}, {grid['dataset']}" + (" — ORACLE SELECTION" if select == "oracle" else ""), ""]
    n_failed = pd.Series([(r["method"], f"{r['source']}→{r['target']}") for r in failed], dtype=object).value_counts()
    acc_rows = []
    for m in methods:
        cells = [(f"{_fmt(table.loc[(m, p), 'mean'])} ± {_fmt(table.loc[(m, p), 'std'])} ({int(table.loc[(m, p), 'n'])})"
                  if not np.isnan(table.loc[(m, p), "mean"]) else "–")
                 + (f" ({n_failed[(m, p)]} failed)" if (m, p) in n_failed.index else "") for p in pairs]
        acc_rows.append([m, *cells, _fmt(summary.loc[m, "avg"]), _fmt(summary.loc[m, "rank"], ".2f")])
    md += ["Mean ± std over seeds (number of seeds).", "", _md(["method", *pairs, "Avg", "Avg rank"], acc_rows)]
    if open_set and metric == "target_accuracy":
        md += ["## Open-set metrics (average over pairs)", "",
               "H-score and its parts, each the mean over pairs of the mean over seeds, at the checkpoint the "
               "selection rule chose.", "", _md(["method", "H-score", *OPEN_SET_KEYS], open_set_rows(
                   rows, methods, pairs, select, summary))]
    if len(gain):
        md += [f"## Transfer gain over {baseline} (points)", "",
               f"Mean over seeds of (method − {baseline}) on the same pair and seed. ▼ negative transfer; "
               f"† not significant: paired t-test over seeds, Holm-corrected over the {gain['p_value'].notna().sum()} "
               f"tested cells of this table, p ≥ {ALPHA} (or fewer than 2 seeds).", ""]
        gain_rows = []
        for m in methods:
            if m == baseline:
                continue
            g = gain[gain.method == m].set_index("pair")
            marks = [f"{_fmt(g.loc[p, 'gain'], '+.1f')}{'▼' if g.loc[p, 'gain'] < 0 else ''}"
                     f"{'†' if not g.loc[p, 'p_holm'] < ALPHA else ''}" for p in pairs]
            gain_rows.append([m, *marks, _fmt(g["gain"].mean(), "+.1f")])
        md += [_md(["method", *pairs, "Avg"], gain_rows)]
    if len(pub):
        md += ["## Published numbers (paper_results/)", "",
               "Published numbers of the same setting and metric, under their own protocol; Δ = dabench − published.", ""]
        pub_rows = []
        for _, r in pub.iterrows():
            ours = table.loc[(r["method"], r["pair"]), "mean"]
            pub_rows.append([r["method"], r["pair"], _fmt(ours), _fmt(r["published"]),
                             _fmt(ours - r["published"], "+.1f"), f"{r['published_method']} ({r['kind']}"
                             f"{', ' + r['protocol'] if r['protocol'] else ''})", r["source"].split(":")[0]])
        md += [_md(["method", "pair", "dabench", "published", "Δ", "as published", "source"], pub_rows)]
    means = table["mean"].unstack("pair").reindex(index=methods, columns=pairs)
    friedman = ranking.friedman(means)
    md += ["## Ranks across pairs", "", *ranking.verdict(friedman, ALPHA), ""]
    if diagram is not None and friedman is not None:
        ranking.diagram(friedman, diagram, ALPHA)
    if failed:
        md += ["## Failed runs", "", "Diverged runs (non-finite loss); they are not in the means above.", "",
               *[f"- {r['method']} {r['source']}→{r['target']} seed {r['seed']}: {r['error']}" for r in failed], ""]
    md += ["## Protocol", "", *protocol_footer(rows, select), ""]

    long = table.reset_index()
    if len(gain):
        long = long.merge(gain[["method", "pair", "gain", "p_value", "p_holm"]], on=["method", "pair"], how="left")
    long = long.merge(pub[["method", "pair", "published", "source"]], on=["method", "pair"], how="left")
    scores = pd.concat([means, summary["avg"].rename("Avg"), -summary["rank"].rename("Avg rank")], axis=1)
    best = {(i, j) for j, column in enumerate(scores.columns) for i, m in enumerate(methods)
            if not np.isnan(scores.iloc[i, j]) and scores.iloc[i, j] == scores.iloc[:, j].max()}
    rule = rules.describe(select, any(r.get("sweep") for r in rows))
    tex = latex_table(["method", *pairs, "Avg", "Avg rank"], acc_rows, best, f"{grid['name']}: {what} ({rule})",
                      f"tab:{grid['name']}")
    return {"md": "\n".join(md), "csv": long.to_csv(index=False, float_format="%.4f"), "tex": tex}


LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
         "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "→": r"$\rightarrow$", "±": r"$\pm$",
         "–": "--", "†": r"\dag{}", "▼": r"$\downarrow$", "Δ": r"$\Delta$"}


def latex_escape(text: str) -> str:
    """`text` as LaTeX source that compiles with pdflatex: specials escaped, the table's symbols as macros."""
    return "".join(LATEX.get(c, c) for c in str(text))


def latex_table(header: list[str], rows: list[list[str]], best: set[tuple[int, int]], caption: str,
                label: str) -> str:
    """A booktabs table; cell (row i, column j + 1) is bold when (i, j) is in `best`."""
    def cell(i, j, text):
        return rf"\textbf{{{latex_escape(text)}}}" if (i, j - 1) in best else latex_escape(text)

    lines = [r"\begin{table}", r"\centering", rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule",
             *[" & ".join(cell(i, j, text) for j, text in enumerate(row)) + r" \\" for i, row in enumerate(rows)],
             r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(root: str | Path, **options) -> dict[str, str]:
    """table.md/csv/tex and figures/critical_difference.png in `root`."""
    outputs = render(root, **options, diagram=Path(root) / "figures" / "critical_difference.png")
    for ext, text in outputs.items():
        write_bytes_atomic(text.encode(), Path(root) / f"table.{ext}")
    return outputs
