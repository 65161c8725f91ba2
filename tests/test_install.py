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


def test_the_wheel_ships_configs_and_published_numbers_and_works_from_any_folder(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("dabench-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}

    def dabench(*args):
        done = subprocess.run([sys.executable, "-m", "dabench", *args], cwd=elsewhere, env=env, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = subprocess.run([sys.executable, "-c", "import dabench; print(dabench.__file__, dabench.__version__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(tmp_path / "site")) and where.split()[1] == "0.1.0"  # the installed copy
    dabench("train", "--config", "configs/datasets/mini_digits.yaml", "--out", "run", "--quiet", "trainer.steps=2",
            "trainer.eval_every=2")
    assert (elsewhere / "run" / "result.json").exists()
    (elsewhere / "grid.yaml").write_text(GRID + "tsne: false\nfigures: false\n")
    dabench("bench", "grid.yaml", "--out", "out", "--quiet")
    assert "## Protocol" in dabench("table", "out")
    listing = dabench("list")  # every registry imports its package from the installed copy
    assert "tent " in listing and "test-time methods" in listing and "digits_c" in listing
