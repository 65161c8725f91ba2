"""The documentation site: its generated references cover the code, `dabench report --html` pages hold a
results folder's tables, figures, curves, failures and provenance, and the built site renders in Chromium."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from dabench.bench.html import gallery_index, report_page
from dabench.catalogue import config_reference, dataset_catalogue, method_catalogue
from dabench.cli import main
from dabench.errors import DabenchError
from dabench.schema import GridFile, RunConfig, StreamOptions
from dabench.testing import toy_benchmark

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def schema_keys(schema: dict, defs: dict, prefix: str = "") -> list[str]:
    """Every leaf key of a pydantic JSON schema, sections expanded: a walk independent of dabench.catalogue."""
    keys = []
    for name, spec in schema["properties"].items():
        ref = spec.get("$ref") or next((s["$ref"] for s in spec.get("allOf", []) if "$ref" in s), None)
        if ref:
            keys += schema_keys(defs[ref.split("/")[-1]], defs, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


@pytest.mark.parametrize("model, prefix", [(RunConfig, ""), (GridFile, ""), (StreamOptions, "stream.")])
def test_the_config_reference_lists_every_key_of_the_schema(model, prefix):
    schema = model.model_json_schema()
    keys = schema_keys(schema, schema.get("$defs", {}), prefix)
    page = config_reference()
    listed = re.findall(r"^\| `([\w.]+)` \|", page, re.M)
    assert len(keys) >= 5 and all(f"| `{key}` |" in page for key in keys), set(keys) - set(listed)
    assert "| `trainer.steps` | `int` | `1000` | iterations" in page


def test_the_method_catalogue_lists_every_registered_method():
    from dabench.methods.base import METHODS
    from dabench.stream.base import STREAM_METHODS

    page = method_catalogue()
    assert re.findall(r"^## (\w+)$", page, re.M) == METHODS.names()
    assert re.findall(r"^## stream: (\w+)$", page, re.M) == STREAM_METHODS.names()
    dann = page.split("## dann\n")[1].split("\n## ")[0]
    assert "Ganin et al., JMLR 2016" in dann and "adversarial" in dann and "trade_off=1.0" in dann


def test_the_dataset_catalogue_lists_every_registered_dataset_with_its_checksums():
    from dabench.data.base import DATASETS

    page = dataset_catalogue()
    assert re.findall(r"^## (\w+)$", page, re.M) == DATASETS.names()
    digits = page.split("## digits\n")[1].split("\n## ")[0]
    mnist_images = DATASETS.get("digits").files["mnist/train-images-idx3-ubyte.gz"]
    assert mnist_images in digits and "https://ossci-datasets.s3.amazonaws.com/mnist/" in digits
    assert "amazon (2,817)" in page.split("## office31\n")[1].split("\n## ")[0]


def test_the_gallery_lists_every_committed_results_folder_by_setting():
    folders = sorted(p for p in RESULTS.iterdir() if p.is_dir())
    page = gallery_index(folders)
    assert len(folders) > 30 and all(f"[{f.name}]({f.name}.html)" in page for f in folders)
    section = lambda title: page.split(f"## {title}\n")[1].split("\n## ")[0]  # noqa: E731
    assert "[open_digits](open_digits.html) | images | digits" in section("Open-set")
    assert "[dg_surf](dg_surf.html) | features | office_caltech10_surf" in section("Domain generalization")
    assert "[speed](speed.html)" in section("Measurements")


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory) -> Path:
    """A benchmark store of two methods on toy a->b, one seed, plus one failed run and no table.md."""
    folder = tmp_path_factory.mktemp("store")
    toy_benchmark(folder, "dataset: toy\npairs: [[a, b]]\nmethods: [source_only, dann]\nseeds: [0]\n", steps=10,
                  figures=True)
    store = folder / "out"
    (store / "table.md").unlink()
    finished = json.loads((store / "results.jsonl").read_text().splitlines()[0])
    failed = {"cell_id": "f" * 16, "status": "failed", "method": "mcc", "source": "a", "target": "b", "seed": 0,
              "error": "loss became nan at step 7", "config": finished["config"]}
    with open(store / "results.jsonl", "a") as results:
        results.write(json.dumps(failed) + "\n")
    return store


def test_a_report_page_holds_the_tables_figures_curves_failures_and_provenance(toy_store, tmp_path, capsys):
    assert main(["report", str(toy_store), "--html", str(tmp_path / "page")]) == 0
    assert "index.html" in capsys.readouterr().out
    page = (tmp_path / "page" / "index.html").read_text()
    rows = re.findall(r"<tr>\s*<td>(\w+)</td>", page)
    assert {"source_only", "dann"} <= set(rows)  # the accuracy table, rendered afresh from results.jsonl
    assert "Transfer gain over source_only" in page and "Selection: last checkpoint" in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 3 and min(len(i) for i in images) > 1000  # accuracy bars, heatmap, curves
    assert "Per-run curves" in page and "Failed runs (1)" in page and "loss became nan at step 7" in page
    commit = json.loads((toy_store / "results.jsonl").read_text().splitlines()[0])["git_commit"]
    assert "Provenance: 2 finished runs" in page and (commit or "")[:10] in page
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch


def test_a_committed_folder_reports_its_readme_tables_and_subfolders():
    page = report_page(RESULTS / "task_adaptation_coil20")
    assert page.count("<h2 id=") == 3 and '<h2 id="k1">' in page  # k1, k10, k3
    assert "task_adaptation_coil20: EfficientNet-Lite0" in page and "<table>" in page


def test_report_of_a_folder_without_results_is_a_one_line_error(tmp_path):
    with pytest.raises(DabenchError, match="holds no README, table, figure or results.jsonl"):
        report_page(tmp_path)
    with pytest.raises(DabenchError, match="is not a folder"):
        report_page(tmp_path / "missing")


def chromium(*args: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium: .ci/run installs Debian's package (apt-get install chromium)")
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                           *args], capture_output=True, text=True, timeout=120)


def test_the_built_site_renders_its_front_page_and_a_gallery_page_in_chromium(tmp_path, monkeypatch):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    # The gallery pages that the docs link to, and the quickstart's: a strict build needs every linked page.
    linked = {m for page in (REPO / "docs").rglob("*.md") for m in re.findall(r"gallery/(\w+)\.html", page.read_text())}
    monkeypatch.setenv("DABENCH_GALLERY", ",".join(linked | {"quickstart"}))
    build(load_config(str(REPO / "mkdocs.yml"), site_dir=str(tmp_path / "site"), strict=True))
    site = tmp_path / "site"
    index = chromium("--dump-dom", (site / "index.html").as_uri()).stdout
    assert "<td>dann</td>" in index and "Two commands" in index  # the README's table, as a table

    # A script run by the browser once the page has loaded counts the images it decoded.
    gallery = (site / "gallery" / "quickstart.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(gallery.replace("</body>", "<script>window.addEventListener('load', () => document.body.insertAdjacent"
                                     "HTML('beforeend', '<p id=decoded>' + [...document.images].filter(i => i.naturalWidth"
                                     " > 0).length + ' of ' + document.images.length + '</p>'))</script></body>"))
    dom = chromium("--dump-dom", probe.as_uri()).stdout
    decoded = re.search(r'<p id="decoded">(\d+) of (\d+)</p>', dom)
    assert decoded and int(decoded.group(2)) >= 5 and decoded.group(1) == decoded.group(2)
    assert dom.count("<td>dann</td>") >= 2  # the accuracy table and the gains

    shot = tmp_path / "gallery.png"
    chromium(f"--screenshot={shot}", "--window-size=1000,1400", (site / "gallery" / "quickstart.html").as_uri())
    pixels = Image.open(shot).convert("L")
    assert pixels.size == (1000, 1400) and pixels.getextrema()[1] - pixels.getextrema()[0] > 100  # not blank
