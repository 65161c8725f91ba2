"""`dabench report STORE --html OUT`: one self-contained HTML page for a results folder.

The page holds, for the folder and each of its subfolders: its README, its tables (a store's
table.md, rendered afresh when the store has none; every other Markdown table; a CSV without a
Markdown twin), its figures, the per-run curves of target accuracy and total loss, the failed
runs and the provenance of every run. Images are embedded as data: URIs and the style sheet is
inline, so the page opens offline from anywhere: the site's results gallery is these pages.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import markdown
import pandas as pd
from matplotlib.figure import Figure

from dabench.errors import DabenchError
from dabench.io import make_folder, read_jsonl, write_bytes_atomic

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:90%}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f0f0f0}td{text-align:right}td:first-child{text-align:left}
img{max-width:100%}figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:85%;color:#555}
pre,code{background:#f6f6f6;font-size:90%}pre{padding:.6em;overflow-x:auto}details{margin:1em 0}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em}
"""
SKIPPED_FOLDERS = {"cells", "figures"}  # a store's run folders; the figures belong to their parent's section


def _markdown(text: str) -> str:
    return markdown.markdown(text, extensions=["tables", "fenced_code"])


def _image(data: bytes, caption: str, suffix: str = "png") -> str:
    kind = "svg+xml" if suffix == "svg" else suffix
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/{kind};base64,'
            f'{base64.b64encode(data).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def _rows(folder: Path) -> list[dict]:
    path = folder / "results.jsonl"
    return read_jsonl(path) if path.exists() else []


def _tables(folder: Path, rows: list[dict]) -> list[str]:
    parts = []
    if not (folder / "table.md").exists() and (folder / "grid.json").exists() and rows:
        from dabench.bench.report import render

        parts.append(_markdown(render(folder)["md"]))
    for path in sorted(folder.glob("*.md")):
        if path.name != "README.md":
            parts.append(_markdown(path.read_text()))
    for path in sorted(folder.glob("*.csv")):
        if not path.with_suffix(".md").exists():
            frame = pd.read_csv(path)
            parts.append(f"<h4>{html.escape(path.name)}</h4>" + frame.head(200).to_html(index=False, na_rep="–"))
    return parts


def _curves(folder: Path, rows: list[dict]) -> str:
    """Target accuracy (and total loss, where metrics.jsonl has it) over steps, one line per run,
    one column of panels per pair. Drawn from each cell's metrics.jsonl, else from the evaluation
    records that results.jsonl keeps."""
    runs = []
    for row in rows:
        metrics = folder / "cells" / row["cell_id"] / "metrics.jsonl"
        records = read_jsonl(metrics) if metrics.exists() else row.get("records") or []
        if records:
            runs.append((row, records))
    if not runs:
        return ""
    pairs = list(dict.fromkeys(f"{r['source']}→{r['target']}" for r, _ in runs))
    methods = list(dict.fromkeys(r["method"] for r, _ in runs))
    losses = any("loss/total" in record for _, records in runs for record in records)
    fig = Figure(figsize=(min(4.0 * len(pairs), 16.0), 3.2 * (1 + losses)))
    axes = fig.subplots(1 + losses, len(pairs), squeeze=False)
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    legend = {}  # method -> one of its lines
    for row, records in runs:
        column = pairs.index(f"{row['source']}→{row['target']}")
        for panel, key in enumerate(["target_test_acc", "loss/total"][:1 + losses]):
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                steps, values = zip(*points)
                line, = axes[panel][column].plot(steps, values, color=colors[row["method"]], lw=1, alpha=0.8)
                legend.setdefault(row["method"], line)
    for column, pair in enumerate(pairs):
        axes[0][column].set_title(pair, fontsize=9)
        axes[0][column].set_ylabel("target test accuracy (%)" if column == 0 else "")
        if losses:
            axes[1][column].set_ylabel("total loss" if column == 0 else "")
        axes[-1][column].set_xlabel("step")
    fig.legend(list(legend.values()), list(legend), loc="upper center", ncol=min(len(legend), 6), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return ("<h3>Per-run curves</h3><p>Target test accuracy at each evaluation, one line per seed: for reading "
            "only, since a table reports its selection rule's checkpoint, never the best of these points.</p>"
            + _image(buffer.getvalue(), "per-run curves"))


def _failed(rows: list[dict]) -> str:
    failed = [r for r in rows if r.get("status") == "failed"]
    if not failed:
        return ""
    frame = pd.DataFrame([{"method": r["method"], "pair": f"{r['source']}→{r['target']}", "seed": r["seed"],
                           "error": r["error"]} for r in failed])
    return f"<h3>Failed runs ({len(failed)})</h3>" + frame.to_html(index=False)


def _provenance(rows: list[dict]) -> str:
    finished = [r for r in rows if r.get("status", "finished") == "finished"]
    if not finished:
        return ""
    frame = pd.DataFrame([{"cell": r["cell_id"], "method": r["method"], "pair": f"{r['source']}→{r['target']}",
                           "seed": r["seed"], "target": round(r["target_accuracy"], 2), "steps": r.get("steps"),
                           "wall (s)": round(r.get("wall_s") or 0.0, 1), "commit": (r.get("git_commit") or "")[:10],
                           "device": r.get("device"), "versions": json.dumps(r.get("versions", {}))}
                          for r in finished])
    return (f"<details><summary>Provenance: {len(finished)} finished runs (config hash, commit, device, "
            f"versions)</summary>{frame.to_html(index=False)}</details>")


def _section(folder: Path, root: Path) -> list[str]:
    rows = _rows(folder)
    figures = sorted([*folder.glob("*.png"), *folder.glob("*.svg"), *(folder / "figures").glob("*.png"),
                      *(folder / "figures").glob("*.svg")])
    parts = [_markdown((folder / "README.md").read_text())] if (folder / "README.md").exists() else []
    parts += _tables(folder, rows)
    parts += [_image(path.read_bytes(), path.stem, path.suffix[1:]) for path in figures]
    parts += [part for part in (_curves(folder, [r for r in rows if r.get("status", "finished") == "finished"]),
                                _failed(rows), _provenance(rows)) if part]
    if parts and folder != root:
        parts.insert(0, f'<h2 id="{html.escape(folder.relative_to(root).as_posix())}">'
                        f'{html.escape(folder.relative_to(root).as_posix())}</h2>')
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in SKIPPED_FOLDERS):
        parts += _section(child, root)
    return parts


def report_page(folder: str | Path, title: str | None = None) -> str:
    """The HTML page of results folder `folder` (a store written by dabench bench, or a committed
    folder of tables and figures); its title defaults to the folder's name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DabenchError(f"{folder} is not a folder; give a results folder (the --out of dabench bench)")
    body = _section(folder, folder)
    if not body:
        raise DabenchError(f"{folder} holds no README, table, figure or results.jsonl to report; give the --out "
                           f"of dabench bench")
    title = html.escape(title or folder.resolve().name)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
            f'<body><h1>{title}</h1>\n' + "\n".join(body) + "\n</body></html>\n")


def write_report(folder: str | Path, out: str | Path) -> Path:
    """Write `out`/index.html, the page of results folder `folder`, atomically; returns its path."""
    path = make_folder(out) / "index.html"
    write_bytes_atomic(report_page(folder).encode(), path)
    return path


def _describe(folder: Path) -> dict:
    """What the gallery index says of a committed results folder: its title (the README's first heading),
    dataset, modality and setting (read from its tables' headers and footers), or "measurements" for a
    folder of timings without a table."""
    from dabench.data.base import DATASETS

    readme = folder / "README.md"
    heading = next((line.lstrip("# ").strip() for line in readme.read_text().splitlines() if line.startswith("#")),
                   "") if readme.exists() else ""
    table = next(iter(sorted(folder.rglob("table.md"), key=lambda p: len(p.parts))), None)
    entry = {"name": folder.name, "title": heading or folder.name, "dataset": "", "modality": "", "setting":
             "measurements"}
    if table is None:
        return entry
    text = table.read_text()
    if entry["title"] == folder.name:  # a README titled by the folder's name alone: the table's title says more
        entry["title"] = text.splitlines()[0].lstrip("# ")
    dataset = re.match(r"# .*?, (\w+)$", text.splitlines()[0])
    entry["dataset"] = dataset.group(1) if dataset else ""
    entry["modality"] = DATASETS.get(entry["dataset"]).modality if entry["dataset"] in DATASETS.names() else ""
    setting = re.search(r"^- Setting: ([\w -]+?)(?: DA)?:", text, re.M)
    entry["setting"] = setting.group(1) if setting else "closed-set"
    return entry


def gallery_index(folders: list[Path], link: str = "{name}.html") -> str:
    """The gallery's index page (Markdown): the results `folders`, grouped by setting, one row each
    with its modality and dataset, linked by `link` (formatted with the folder's name)."""
    entries = [_describe(folder) for folder in folders]
    lines = ["# Results gallery", "",
             f"The committed folders of `benchmarks/results/` ({len(entries)}), one self-contained page each, built "
             "from the committed files by `dabench report FOLDER --html OUT` when the site is built: the tables with "
             "their gains, significance marks and protocol footer, the figures, the per-run curves where the folder "
             "keeps its results.jsonl, and each run's provenance.", ""]
    order = ["closed-set", "semi-supervised", "partial", "open-set", "universal", "multi-source",
             "domain generalization", "task adaptation", "measurements"]
    for setting in sorted({e["setting"] for e in entries}, key=lambda s: (order.index(s) if s in order else 99, s)):
        lines += [f"## {setting[0].upper() + setting[1:]}", "", "| folder | modality | dataset | title |",
                  "|---|---|---|---|"]
        lines += [f"| [{e['name']}]({link.format(name=e['name'])}) | {e['modality'] or '–'} | {e['dataset'] or '–'} | "
                  f"{e['title'].replace('|', '/')} |" for e in entries if e["setting"] == setting]
        lines.append("")
    return "\n".join(lines)
