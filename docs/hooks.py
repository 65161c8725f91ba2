"""MkDocs build hook: the pages generated from the code and the committed results, so they cannot drift.

index.md is the README (the repository's front page), its links into docs/ made site-relative;
reference/config.md, reference/methods.md and reference/datasets.md come from dabench.catalogue; gallery/
holds one self-contained page per folder of benchmarks/results/ (dabench.bench.html.report_page) and
an index that groups them by setting.
"""
import os
from pathlib import Path

from mkdocs.structure.files import File

from dabench.bench.html import gallery_index, report_page
from dabench.catalogue import config_reference, dataset_catalogue, method_catalogue

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def on_files(files, config):
    # DABENCH_GALLERY=a,b builds the gallery of those folders alone: the test that opens the built site
    # in Chromium needs one gallery page, not the 17 s that all of them take.
    only = os.environ.get("DABENCH_GALLERY")
    folders = [p for p in sorted(RESULTS.iterdir()) if p.is_dir() and (not only or p.name in only.split(","))]
    pages = {"index.md": (ROOT / "README.md").read_text().replace("](docs/", "]("),
             "reference/config.md": config_reference(), "reference/methods.md": method_catalogue(),
             "reference/datasets.md": dataset_catalogue(), "gallery/index.md": gallery_index(folders)}
    for folder in folders:
        pages[f"gallery/{folder.name}.html"] = report_page(folder)
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files
