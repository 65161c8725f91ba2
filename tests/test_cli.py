"""The dabench command as a user meets it."""
import json
import time

import pytest

from dabench.cli import main
from dabench.testing import cli_process


def test_list_shows_methods_datasets_with_domains_and_backbones(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("source_only", "dan", "dann", "deep_coral", "entropy", "lenet", "dtn", "mlp", "resnet50"):
        assert f"  {name} " in out
    assert "office_caltech10_surf" in out and "amazon, caltech, dslr, webcam" in out.replace(" (missing)", "")


@pytest.mark.parametrize("args, message", [
    (["--method", "dnn"], "unknown method 'dnn'; known: adabn, adda, afn, align, bi_tuning, bnm"),
    (["--method", "dann", "--target", "usps"], "dataset 'mini_digits' has no domain 'usps'; its domains: mnist, optdigits"),
    (["--method", "dann", "trainer.stepz=3"], "unknown key 'trainer.stepz'"),
])
def test_user_errors_are_one_line_without_traceback(args, message, tmp_path, capsys):
    assert main(["train", *args, "--out", str(tmp_path / "x")]) == 2  # an uncaught exception would raise here
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("dabench: error: ") and message in stderr and len(stderr.splitlines()) == 1


def test_missing_data_error_names_the_folder_and_the_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DABENCH_DATA", str(tmp_path))
    assert main(["train", "--method", "dann", "--dataset", "digits", "--out", str(tmp_path / "x")]) == 2
    assert f"under data root {tmp_path}; run `dabench data download digits`" in capsys.readouterr().err


SURF_ARGS = ["--method", "dann", "--dataset", "office_caltech10_surf", "--source", "amazon", "--target", "webcam",
             "--seed", "0", "--quiet"]


@pytest.mark.data
def test_train_writes_result_json_with_required_fields(data_root, tmp_path):
    out = tmp_path / "x"
    assert main(["train", *SURF_ARGS, "--out", str(out), "trainer.steps=300", "optim.lr=0.01"]) == 0
    result = json.loads((out / "result.json").read_text())
    required = {"method", "dataset", "source", "target", "seed", "target_accuracy", "source_accuracy", "steps",
                "config", "git_commit", "versions", "device", "wall_s", "final_losses"}
    assert required <= set(result)
    assert result["steps"] == 300 and result["config"]["optim"]["lr"] == 0.01
    assert {"torch", "torchvision", "dabench"} <= set(result["versions"])
    assert set(result["final_losses"]) == {"cls", "adv", "total"}
    # DANN on a real pair: the classification loss falls and the target beats chance (10 classes).
    first, last = result["records"][0], result["records"][-1]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    cls = [r["loss/cls"] for r in rows if "loss/cls" in r]
    assert cls[-1] < 0.5 * cls[0]
    assert last["target_test_acc"] > 20 and first["step"] < last["step"]
    # A finished run is returned, not recomputed.
    mtime = (out / "result.json").stat().st_mtime_ns
    assert main(["train", *SURF_ARGS, "--out", str(out), "trainer.steps=300", "optim.lr=0.01"]) == 0
    assert (out / "result.json").stat().st_mtime_ns == mtime


@pytest.mark.data
def test_two_same_seed_runs_give_identical_accuracies(data_root, tmp_path):
    results = []
    for run in ("a", "b"):
        assert main(["train", *SURF_ARGS, "--out", str(tmp_path / run), "trainer.steps=100"]) == 0
        results.append(json.loads((tmp_path / run / "result.json").read_text()))
    assert results[0]["records"] == results[1]["records"]


@pytest.mark.data
def test_killed_run_resumes_to_the_uninterrupted_result(data_root, tmp_path, capsys):
    args = ["train", *SURF_ARGS, "trainer.steps=100", "trainer.eval_every=25"]
    victim = cli_process([*args, "--out", str(tmp_path / "killed")], tmp_path / "logs")  # DABENCH_DATA: data_root's
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and victim.is_alive():
        time.sleep(0.05)
    victim.kill()
    victim.join()
    assert checkpoint.exists() and not (tmp_path / "killed" / "result.json").exists(), "kill came too late"

    assert main([*args, "--out", str(tmp_path / "killed")]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "killed"), "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    killed = json.loads((tmp_path / "killed" / "result.json").read_text())
    straight = json.loads((tmp_path / "straight" / "result.json").read_text())
    assert killed["records"] == straight["records"]
    assert killed["target_accuracy"] == straight["target_accuracy"]


@pytest.mark.data
def test_data_verify_reports_each_file_and_fails_on_a_corrupt_one(data_root, tmp_path, capsys):
    assert main(["data", "verify", "office_caltech10_surf", "--root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "office_caltech10_surf  ok; present: amazon, caltech, dslr, webcam" in out
    (tmp_path / "office_caltech10_surf").mkdir()
    (tmp_path / "office_caltech10_surf" / "dslr_SURF_L10.mat").write_bytes(b"not a mat file")
    assert main(["data", "verify", "office_caltech10_surf", "--root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "CORRUPT" in captured.out and "dslr_SURF_L10.mat: sha256" in captured.out
    assert ("1 problem(s), listed above; office_caltech10_surf: delete them and run `dabench data download "
            "office_caltech10_surf`") in captured.err


def test_train_prints_strict_json_without_a_source_validation_split(tmp_path, capsys):
    assert main(["train", "--dataset", "toy", "--source", "a", "--target", "b", "--out", str(tmp_path / "run"),
                 "--quiet", "trainer.steps=2", "trainer.eval_every=2", "val_fraction=0.0"]) == 0
    line = capsys.readouterr().out.splitlines()[-2]
    summary = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in the printed JSON"))
    assert summary["source_accuracy"] is None and summary["target_accuracy"] > 0


def test_overrides_may_follow_the_options_and_unknown_flags_are_refused(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text("dataset: toy\npairs: [[a, b]]\nmethods: [source_only]\nseeds: [0]\ntsne: false\nfigures: false\n")
    assert main(["bench", str(grid), "--out", str(tmp_path / "out"), "--quiet", "trainer.steps=3",
                 "trainer.eval_every=3"]) == 0
    from dabench.bench.store import ResultStore

    assert [r["steps"] for r in ResultStore(tmp_path / "out").rows()] == [3]
    with pytest.raises(SystemExit):
        main(["bench", str(grid), "--out", str(tmp_path / "out"), "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_freeze_all_is_the_whole_backbone(tmp_path):
    from dabench.run import build
    from dabench.testing import toy_config

    _, _, _, method = build(toy_config("source_only", model={"backbone": "mlp", "freeze": "all"}))
    assert not any(p.requires_grad for p in method.model.backbone.parameters())
    assert all(p.requires_grad for p in method.model.classifier.parameters())


def test_config_show_prints_every_resolved_key_with_its_origin(capsys):
    assert main(["config", "show", "--dataset", "digits", "--method", "dann", "method.trade_off=0.3"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["method.trade_off"] == "0.3  # override"
    assert lines["method.name"] == '"dann"  # flag'
    assert lines["dataset.channels"] == "1  # configs/datasets/digits.yaml"  # the recipe's options are kept
    assert lines["trainer.steps"] == "2000  # configs/datasets/digits.yaml"
    assert lines["optim.momentum"] == "0.9  # default" and lines["method.hidden"] == "1024  # default"
    assert main(["config", "show", "--dataset", "digits", "trainer.steps=2.5"]) == 2
    assert "trainer.steps: Input should be a valid integer" in capsys.readouterr().err


def test_version_names_the_installed_release(capsys):
    import dabench

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"dabench {dabench.__version__}"
