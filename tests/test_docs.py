"""The code blocks of docs/api.md run as written, and a plugin package installed elsewhere extends dabench."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dabench.methods.base import METHODS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)


def test_the_api_page_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    try:
        for block in python_blocks()[:2]:  # the third is a plugin module's outline
            exec(compile(block, str(DOCS), "exec"), namespace)
    finally:
        METHODS._entries.pop("my_entropy", None)
    out = capsys.readouterr().out
    assert "my_entropy" in out and "Transfer gain over source_only" in out
    assert namespace["result"]["final_losses"]["ent"] > 0
    assert set(namespace["frame"]["method"]) == {"source_only", "my_entropy"}


def test_a_plugin_package_registers_its_method_through_the_entry_point(tmp_path):
    package = tmp_path / "my_lab"
    (package / "my_lab").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "my-lab"\nversion = "0.1.0"\n'
        '[project.entry-points."dabench.plugins"]\nmy_lab = "my_lab.methods"\n')
    (package / "my_lab" / "__init__.py").write_text("")
    (package / "my_lab" / "methods.py").write_text(
        'from dabench import Method, register_method\n\n\n'
        '@register_method("my_lab_method")\nclass MyLabMethod(Method):\n'
        '    """My lab\'s method: the source cross-entropy alone."""\n\n'
        '    def __init__(self, trade_off: float = 1.0):\n        super().__init__()\n'
        '        self.trade_off = trade_off\n')
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(tmp_path / "site"), str(package)], check=True, capture_output=True)
    env_path = f"{tmp_path / 'site'}"
    listing = subprocess.run([sys.executable, "-m", "dabench", "list", "methods"], capture_output=True, text=True,
                             env={**__import__("os").environ, "PYTHONPATH": env_path})
    assert listing.returncode == 0, listing.stderr
    assert "my_lab_method" in listing.stdout and "My lab's method" in listing.stdout
    (package / "my_lab" / "methods.py").write_text("raise ImportError('broken on purpose')\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--upgrade",
                    "--target", str(tmp_path / "site"), str(package)], check=True, capture_output=True)
    broken = subprocess.run([sys.executable, "-m", "dabench", "list", "methods"], capture_output=True, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": env_path})
    assert broken.returncode == 2 and "plugin my_lab (my_lab.methods" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.parametrize("name", ["train", "run_benchmark", "load_results", "Method", "register_method", "register_dataset",
                                  "register_backbone", "rank", "register_score"])
def test_the_public_api_names(name):
    import dabench

    assert name in dabench.__all__ and getattr(dabench, name)


def test_every_benchmark_file_in_the_readme_loads(data_root, tmp_path):
    """The README's benchmark YAML blocks (those with `pairs:`) are valid benchmark files as written;
    only the data of a dataset that cannot be downloaded here may be absent (that check comes last)."""
    import re
    from pathlib import Path

    from dabench.bench.grid import load_grid
    from dabench.errors import DabenchError

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "\npairs:" in "\n" + b]
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        path = tmp_path / f"grid{i}.yaml"
        path.write_text(block)
        try:
            assert load_grid(path).cells, block
        except DabenchError as err:
            assert "speech_commands" in block and "not verified) under data root" in str(err), block
