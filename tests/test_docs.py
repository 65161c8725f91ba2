"""The code blocks of the documentation run as written (docs/python.md and the tutorials), the README's table is the
committed one, and a plugin package installed elsewhere extends dabench."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dabench.methods.base import METHODS

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def run_blocks(page: Path, blocks: list[str]) -> dict:
    namespace = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    return namespace


def test_the_python_page_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    try:  # the fourth block is a plugin module's outline
        namespace = run_blocks(DOCS / "python.md", python_blocks(DOCS / "python.md")[:3])
    finally:
        METHODS._entries.pop("my_entropy", None)
    out = capsys.readouterr().out
    assert "my_entropy" in out and "Transfer gain over source_only" in out
    assert namespace["result"]["final_losses"]["ent"] > 0
    assert set(namespace["frame"]["method"]) == {"source_only", "my_entropy"}


def test_the_write_a_method_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    page = DOCS / "tutorials" / "write-a-method.md"
    try:
        run_blocks(page, python_blocks(page))
    finally:
        METHODS._entries.pop("dan_coral", None)
    assert "['cls', 'coral', 'mmd', 'total']" in capsys.readouterr().out


def test_the_add_a_dataset_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    from dabench.data.base import DATASETS

    monkeypatch.chdir(tmp_path)
    page = DOCS / "tutorials" / "add-a-dataset.md"
    try:
        namespace = run_blocks(page, python_blocks(page))
    finally:
        DATASETS._entries.pop("wine_shift", None)
    out = capsys.readouterr().out
    assert namespace["result"]["data_files"] == namespace["WineShift"].files  # the digests the class declares
    assert "strong.csv: sha256" in out and "expected b0d6bb33" in out  # the damaged file, named


def test_the_readme_table_is_the_committed_quickstart_table():
    readme = (REPO / "README.md").read_text().split("## The table it writes")[1].split("\n## ")[0]
    rows = [line for line in readme.splitlines() if line.startswith("|")]
    committed = (REPO / "benchmarks" / "results" / "quickstart" / "table.md").read_text().splitlines()
    assert len(rows) == 6 and rows == committed[committed.index(rows[0]):committed.index(rows[0]) + 6]


def install_plugin(site: Path, module_source: str) -> None:
    """An installed package `my_lab` (what pip leaves in site-packages: the module and a dist-info folder with
    its entry point), whose module `my_lab.methods` is `module_source`."""
    (site / "my_lab").mkdir(parents=True, exist_ok=True)
    (site / "my_lab" / "__init__.py").write_text("")
    (site / "my_lab" / "methods.py").write_text(module_source)
    info = site / "my_lab-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-lab\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[dabench.plugins]\nmy_lab = my_lab.methods\n")


def dabench_with_plugins(site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dabench", *args], capture_output=True, text=True, cwd=site,
                          env={**os.environ, "PYTHONPATH": str(site)})


PLUGIN = ('from dabench import Method, register_method\n\n\n'
          '@register_method("{name}")\nclass MyLabMethod(Method):\n'
          '    """My lab\'s method: the source cross-entropy alone."""\n\n'
          '    def __init__(self, trade_off: float = 1.0):\n        super().__init__()\n'
          '        self.trade_off = trade_off\n')


def test_a_plugin_package_registers_its_method_through_the_entry_point(tmp_path):
    install_plugin(tmp_path, PLUGIN.format(name="my_lab_method"))
    listing = dabench_with_plugins(tmp_path, "list", "methods")
    assert listing.returncode == 0, listing.stderr
    assert "my_lab_method" in listing.stdout and "My lab's method" in listing.stdout


@pytest.mark.parametrize("source, command, message", [
    ("raise ImportError('broken on purpose')\n", ["list", "methods"], "plugin my_lab (my_lab.methods"),
    # a name dabench has, registered before dabench's own (the datasets load the plugins first)
    (PLUGIN.format(name="dann"), ["train", "--dataset", "toy", "--source", "a", "--target", "b", "--method", "dann",
                                  "--out", "run"], "method 'dann' registered twice, by my_lab.methods and by dabench."),
])
def test_a_broken_plugin_is_a_one_line_error(source, command, message, tmp_path):
    install_plugin(tmp_path, source)
    broken = dabench_with_plugins(tmp_path, *command)
    assert broken.returncode == 2 and message in broken.stderr and "Traceback" not in broken.stderr


@pytest.mark.parametrize("name", ["train", "run_benchmark", "load_results", "Method", "register_method", "register_dataset",
                                  "register_backbone", "rank", "register_score"])
def test_the_public_api_names(name):
    import dabench

    assert name in dabench.__all__ and getattr(dabench, name)


def test_every_benchmark_file_in_the_docs_loads(data_root, tmp_path):
    """The documentation's benchmark YAML blocks (those with `pairs:`) are valid benchmark files as written;
    only the data of a dataset that cannot be downloaded here may be absent (that check comes last)."""
    from dabench.bench.grid import load_grid
    from dabench.errors import DabenchError

    pages = "".join(page.read_text() for page in sorted(DOCS.rglob("*.md")))
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", pages, re.S) if "\npairs:" in "\n" + b]
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        path = tmp_path / f"grid{i}.yaml"
        path.write_text(block)
        try:
            assert load_grid(path).cells, block
        except DabenchError as err:
            assert "speech_commands" in block and "not verified) under data root" in str(err), block
