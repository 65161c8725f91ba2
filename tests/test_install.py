"""dabench installed from a built wheel, used from a folder outside the repository."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GRID = """
dataset: toy
pairs: [[a, b]]
methods: [source_only, dann]
seeds: [0]
overrides: {trainer.steps: 2, trainer.eval_every: 2}
"""

USE_THE_CLI = """
import contextlib, io
import dabench
from dabench.cli import main

def dabench_cli(*args):
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        code = main(list(args))
    assert code == 0, args
    return captured.getvalue()

dabench_cli("train", "--config", "configs/datasets/mini_digits.yaml", "--out", "run", "--quiet", "trainer.steps=2",
            "trainer.eval_every=2")
dabench_cli("bench", "grid.yaml", "--out", "out", "--quiet")
print(f"{dabench.__file__} {dabench.__version__}", dabench_cli("table", "out"), dabench_cli("list"), sep="\\0", end="")
"""


def test_the_wheel_ships_configs_and_published_numbers_and_works_from_any_folder(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("dabench-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "grid.yaml").write_text(GRID + "tsne: false\nfigures: false\n")
    # One process runs the four commands through dabench's own entry point (each process start imports torch anew).
    done = subprocess.run([sys.executable, "-c", USE_THE_CLI], cwd=elsewhere, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert done.returncode == 0, done.stderr
    where, table, listing = done.stdout.split("\0")
    assert where.startswith(str(tmp_path / "site")) and where.split()[1] == "0.1.0"  # the installed copy
    assert (elsewhere / "run" / "result.json").exists()
    assert "## Protocol" in table
    assert "tent " in listing and "test-time methods" in listing and "digits_c" in listing  # every registry imports
