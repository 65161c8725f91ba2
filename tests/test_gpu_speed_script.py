"""benchmarks/gpu_speed.py measures on a GPU this machine lacks; its --smoke mode runs every part tiny on the CPU,
so the script a GPU session relies on is known to run (its figures mean nothing and are not asserted)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_speed.py"


def test_the_gpu_speed_script_runs_every_part_and_writes_its_report(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as `python benchmarks/gpu_speed.py` has it
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--smoke", "--out", str(tmp_path)])
    from gpu_speed import main

    main()  # in this process: a fresh one would spend seconds importing torch
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["smoke"] is True and results["device"] == "cpu"
    assert results["dabench"]["steps_per_s"] > 0 and results["reference"]["steps_per_s"] > 0
    assert results["packing"]["ratio"] > 0
    assert results["views"]["strong_batched_ms"] > 0 and results["views"]["strong_per_image_ms"] > 0
    report = (tmp_path / "README.md").read_text()
    assert "| dabench |" in report and "| 4 x 3 x 32² |" in report and "Host syncs: not checked (needs CUDA)." in report


def test_a_part_that_fails_or_lacks_a_package_is_skipped_with_its_reason_and_the_others_still_run(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    from gpu_speed import run_parts

    results = run_parts([("missing", lambda: __import__("no_such_package_here")), ("broken", lambda: 1 / 0),
                         ("fine", lambda: {"steps_per_s": 2.0})])
    assert results == {"missing": {"skipped": "needs no_such_package_here"},
                       "broken": {"skipped": "failed: ZeroDivisionError: division by zero"},
                       "fine": {"steps_per_s": 2.0}}
