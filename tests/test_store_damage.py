"""A damaged results store: every damaged file is named, set aside, and its cell recomputed, without
losing the other results; claims are leases that expire; `dabench store check [--repair]`."""
import json
import os
import shutil
import socket
import time

import pytest

from dabench.bench.benchmark import run_benchmark
from dabench.bench.store import ResultStore, lease_seconds
from dabench.cli import main
from dabench.errors import DabenchError

GRID = """
dataset: toy
pairs: [[a, b], [b, a]]
methods: [source_only, dann]
seeds: [0]
model: {backbone: {name: mlp, hidden: [8]}, bottleneck_dim: 4}
overrides: {trainer.steps: 6, trainer.batch_size: 8, trainer.eval_every: 3, trainer.log_every: 3}
tsne: false
figures: false
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished store (4 cells), copied fresh for each test that damages it."""
    root = tmp_path_factory.mktemp("finished")
    (root / "grid.yaml").write_text(GRID)
    run_benchmark(root / "grid.yaml", root / "out", progress_bar=False)
    return root


@pytest.fixture
def store(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "copy")
    return tmp_path / "copy"


def cells(root):
    return sorted((root / "out" / "cells").iterdir())


def results(root) -> dict:
    return {r["cell_id"]: r["records"] for r in ResultStore(root / "out").rows()}


def rerun(root) -> dict:
    return run_benchmark(root / "grid.yaml", root / "out", progress_bar=False)["status"]


def test_garbage_in_one_result_json_reruns_that_cell_only(store):
    before = results(store)
    damaged = cells(store)[0]
    (damaged / "result.json").write_text("{garbage")
    with pytest.warns(UserWarning, match=rf"{damaged}/result.json: not valid JSON .* set aside"):
        status = rerun(store)
    assert status[damaged.name] == "ran" and sorted(status.values()).count("done") == 3
    assert results(store) == before  # resumed from its last checkpoint: the same records
    assert (damaged / "result.json.damaged").read_text() == "{garbage"


def test_a_torn_last_line_of_results_jsonl_is_skipped_by_table(store, capsys):
    path = store / "out" / "results.jsonl"
    path.write_text(path.read_text() + '{"cell_id": "abc", "meth')
    with pytest.warns(UserWarning, match="results.jsonl: skipped its torn last line 5"):
        assert main(["table", str(store / "out")]) == 0
    assert "source_only" in capsys.readouterr().out


def test_a_truncated_checkpoint_of_an_unfinished_cell_restarts_it_from_scratch(store):
    before = results(store)
    damaged = cells(store)[1]
    (damaged / "result.json").unlink()
    data = (damaged / "checkpoint.pt").read_bytes()
    (damaged / "checkpoint.pt").write_bytes(data[:len(data) // 2])
    with pytest.warns(UserWarning, match=rf"{damaged}/checkpoint.pt: not a loadable dabench checkpoint"):
        status = rerun(store)
    assert status[damaged.name] == "ran"
    assert results(store) == before  # from scratch, deterministically: the same run


def test_half_written_claim_and_torn_metrics_line_do_not_stop_a_resume(store):
    before = results(store)
    damaged = cells(store)[2]
    (damaged / "result.json").unlink()
    (damaged / "claim").write_text('{"host": "node7", "pi')
    with open(damaged / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "loss/to')
    assert rerun(store)[damaged.name] == "ran"
    assert results(store) == before
    assert all(json.loads(line) for line in (damaged / "metrics.jsonl").read_text().splitlines())
    assert not (damaged / "claim").exists()


def test_a_foreign_claim_expires_when_its_heartbeat_stops(store, monkeypatch):
    unfinished = cells(store)[3]
    (unfinished / "result.json").unlink()
    claim = unfinished / "claim"
    claim.write_text(json.dumps({"host": "another-host", "pid": 1}))
    monkeypatch.setenv("DABENCH_LEASE_S", "2")
    started = time.monotonic()
    status = rerun(store)  # waits for the lease to end, then takes the cell over
    assert status[unfinished.name] == "ran" and time.monotonic() - started >= 1.5
    assert (unfinished / "result.json").exists() and not claim.exists()


def test_a_live_heartbeat_keeps_a_claim(store, monkeypatch):
    monkeypatch.setenv("DABENCH_LEASE_S", "0.4")
    result_store = ResultStore(store / "out")
    cell_id = cells(store)[0].name
    cell = type("Cell", (), {"cell_id": cell_id})()
    (cells(store)[0] / "result.json").unlink()
    assert result_store.claim(cell)
    with result_store.heartbeat(cell):
        time.sleep(1.0)  # 2.5 leases: only the heartbeat keeps it
        with result_store.lock:
            assert not result_store.lease_over(cells(store)[0] / "claim")
    time.sleep(0.6)
    assert result_store.lease_over(cells(store)[0] / "claim")


def test_a_claim_of_a_dead_process_on_this_host_expires_at_once(store):
    claim = cells(store)[0] / "claim"
    claim.write_text(json.dumps({"host": socket.gethostname(), "pid": 2 ** 22 + 12345}))
    assert ResultStore(store / "out").lease_over(claim)
    claim.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    assert not ResultStore(store / "out").lease_over(claim)


def test_store_check_names_every_damage_and_repair_mends_it(store, capsys):
    first, second, third = cells(store)[:3]
    (first / "result.json").write_text("[1, 2")
    data = (second / "checkpoint.pt").read_bytes()
    (second / "checkpoint.pt").write_bytes(data[:100])
    with open(third / "metrics.jsonl", "a") as f:
        f.write("{torn\n")
    (third / "claim").write_text("{")
    assert main(["store", "check", str(store / "out")]) == 2
    out = capsys.readouterr()
    for expected in (f"{first}/result.json: not valid JSON", f"{second}/checkpoint.pt: not a loadable",
                     f"{third}/metrics.jsonl: line", f"{third}/claim: expired claim"):
        assert expected in out.out
    assert "4 problem(s)" in out.err and "--repair" in out.err

    with pytest.warns(UserWarning):
        assert main(["store", "check", str(store / "out"), "--repair"]) == 0
    assert main(["store", "check", str(store / "out")]) == 0
    assert "ok, nothing damaged" in capsys.readouterr().out
    assert (first / "result.json.damaged").exists() and (second / "checkpoint.pt.damaged").exists()
    # the damaged cells' rows are gone until they rerun (the second's model is lost: its finished run reruns)
    assert len(ResultStore(store / "out").rows()) == 2
    status = rerun(store)
    assert status[first.name] == status[second.name] == "ran"
    assert len(ResultStore(store / "out").rows()) == 4


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "ten"])
def test_a_lease_that_is_not_a_positive_finite_time_is_refused(value, monkeypatch):
    monkeypatch.setenv("DABENCH_LEASE_S", value)
    with pytest.raises(DabenchError, match=f"DABENCH_LEASE_S='{value}' is not a positive, finite number of seconds"):
        lease_seconds()


def test_a_repair_leaves_a_store_that_the_next_bench_completes_with_its_figures(tmp_path, capsys):
    # the t-SNE cell (dann, a->b, seed 0): its finished run's checkpoint is damaged, another cell.json is garbage
    (tmp_path / "grid.yaml").write_text(GRID.replace("pairs: [[a, b], [b, a]]", "pairs: [[a, b]]")
                                        .replace("tsne: false\nfigures: false\n", ""))
    assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    before = results(tmp_path)
    store = ResultStore(tmp_path / "out")
    tsne_cell, other = (store.cell_dir(c) for c in store.grid()["cells"])
    if "dann" not in (tsne_cell / "cell.json").read_text():
        tsne_cell, other = other, tsne_cell
    (tsne_cell / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (other / "cell.json").write_text("{garbage")
    (tmp_path / "out" / "figures" / "complete.json").unlink()  # figures are drawn again
    with pytest.warns(UserWarning, match="figures: no t-SNE figure: .*checkpoint.pt.*--repair"):
        assert main(["bench", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert json.loads((other / "cell.json").read_text())["method"]["name"]  # written again from the grid
    assert main(["store", "check", str(tmp_path / "out"), "--repair"]) == 0
    assert "repaired 1 problem(s)" in capsys.readouterr().out
    status = run_benchmark(tmp_path / "grid.yaml", tmp_path / "out", progress_bar=False)["status"]
    assert status == {tsne_cell.name: "ran", other.name: "done"}  # the lost model is recomputed
    assert results(tmp_path) == before
    assert (tmp_path / "out" / "figures" / "tsne.png").is_file()
    assert main(["store", "check", str(tmp_path / "out")]) == 0


def test_a_bench_where_every_run_diverged_writes_its_tables_and_no_figure(tmp_path):
    (tmp_path / "grid.yaml").write_text(GRID.replace("trainer.steps: 6", "trainer.steps: 2, optim.lr: 1.0e+30")
                                        .replace("methods: [source_only, dann]", "methods: [source_only]")
                                        .replace("figures: false\n", ""))  # figures asked for, and none drawn
    outcome = run_benchmark(tmp_path / "grid.yaml", tmp_path / "out", progress_bar=False)
    assert set(outcome["status"].values()) == {"failed"} and "Every run failed" in outcome["table"]
    assert not list((tmp_path / "out" / "figures").glob("*.png"))
