"""The stream protocol: labels reach only the scorer, each batch is scored once from what the method returned on
arrival, episodic resets restore the source exactly, a resumed stream equals an uninterrupted one, bad input fails
first."""
import json

import numpy as np
import pytest
import torch

import dabench.stream.protocol as protocol
from dabench.cli import main
from dabench.errors import DabenchError
from dabench.stream.base import STREAM_METHODS, StreamMethod
from dabench.stream.protocol import non_iid_order, run_stream
from dabench.testing import poison_toy_labels, unlocking

STREAM = {"dataset": {"name": "toy", "shift": 4.0, "samples": 120}, "source": "a", "targets": ["b", "c"], "seed": 0,
          "model": {"backbone": {"name": "mlp", "hidden": [16]}, "bottleneck_dim": 8},
          "trainer": {"steps": 30, "batch_size": 16, "eval_every": 30, "device": "cpu"},
          "method": {"name": "tent", "lr": 0.01}, "stream": {"batch_size": 16}}


@pytest.mark.parametrize("method", ["tent", "t3a"])  # a method never holds a label; these two keep the most state
def test_the_labels_reach_only_the_scorer_and_the_order_builder(method, tmp_path, monkeypatch):
    poison_toy_labels(monkeypatch, {"b", "c"})  # the stream's domains; the source model trains on a's labels
    with pytest.raises(AssertionError, match="labels read by"):
        run_stream({**STREAM, "method": method}, tmp_path / "locked")
    monkeypatch.setattr(protocol, "score", unlocking(protocol.score))
    monkeypatch.setattr(protocol, "non_iid_order", unlocking(protocol.non_iid_order))
    result = run_stream({**STREAM, "method": method, "stream": {"batch_size": 16, "order": "dirichlet"}},
                        tmp_path / "open")
    assert 0 <= result["online_accuracy"] <= 100


class ArrivalCounter(StreamMethod):
    """Predicts class (number of batches seen so far) mod C for a whole batch: its answers depend on arrival."""

    kept_attributes = ("seen",)

    def prepare(self):
        self.seen = 0

    def adapt(self, x):
        logits = torch.zeros(len(x), 3)
        logits[:, self.seen % 3] = 1.0
        self.seen += 1
        return logits


@pytest.fixture
def arrival_counter():
    STREAM_METHODS.register("test_arrival_counter")(ArrivalCounter)
    yield "test_arrival_counter"
    del STREAM_METHODS._entries["test_arrival_counter"]


def test_each_batch_is_scored_once_from_the_predictions_returned_on_arrival(arrival_counter, tmp_path):
    from dabench.data.base import DATASETS

    result = run_stream({**STREAM, "method": "test_arrival_counter", "targets": ["b"]}, tmp_path / "run")
    order = json.loads((tmp_path / "run" / "stream_order.json").read_text())["b"]
    labels = DATASETS.build(STREAM["dataset"]).load("b", "test").tensors[1][order].numpy()
    arrived = np.arange(len(labels)) // 16 % 3  # batch k was answered with class k mod 3
    hits = np.cumsum(labels == arrived)
    sizes = np.minimum(np.arange(1, result["batches"] + 1) * 16, len(labels))
    assert result["curve"] == pytest.approx((100 * hits[sizes - 1] / sizes).tolist(), abs=1e-4)  # kept to 4 decimals
    assert result["batches"] == 8 and result["online_accuracy"] == pytest.approx(100 * hits[-1] / len(labels))
    # The final model's second pass answers every batch as batch 8 would have (8 mod 3 = 2), not the arrivals.
    assert result["final_model_accuracy"]["b"] == pytest.approx(100 * np.mean(labels == 2))


def test_an_episodic_reset_restores_the_source_weights_and_state_exactly():
    from dabench.models.pretrained import build_from_config

    model = build_from_config({"backbone": {"name": "mlp", "hidden": [16]}, "bottleneck_dim": 8}, (8,), 3)
    method = STREAM_METHODS.build({"name": "eata", "lr": 0.5, "entropy_margin": 1.0})
    method.setup(model)
    before = {k: v.clone() for k, v in method.state_dict().items() if isinstance(v, torch.Tensor)}
    for _ in range(3):
        method(torch.randn(16, 8))
    assert method.average_probs is not None and method.optimizer.state
    assert any(not torch.equal(before[k], v) for k, v in method.state_dict().items() if k in before)
    method.reset()
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items() if k in before)
    assert method.average_probs is None and not method.optimizer.state


def test_a_resumed_stream_equals_an_uninterrupted_one_bit_for_bit(tmp_path, monkeypatch):
    cfg = {**STREAM, "method": "eata", "stream": {"batch_size": 16, "checkpoint_every": 3}}
    whole = run_stream(cfg, tmp_path / "whole")
    calls = {"n": 0}
    score = protocol.score

    def crashing(*args):
        calls["n"] += 1
        if calls["n"] == 11:
            raise KeyboardInterrupt
        return score(*args)

    monkeypatch.setattr(protocol, "score", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_stream(cfg, tmp_path / "cut")
    assert (tmp_path / "cut" / "checkpoint.pt").exists() and not (tmp_path / "cut" / "result.json").exists()
    monkeypatch.setattr(protocol, "score", score)
    resumed = run_stream(cfg, tmp_path / "cut")
    for key in ("curve", "online_accuracy", "final_model_accuracy", "stream_order_sha256"):
        assert resumed[key] == whole[key], key
    assert run_stream(cfg, tmp_path / "cut") == resumed  # finished: returned, not recomputed


def test_a_dirichlet_stream_is_a_permutation_with_class_bursts():
    labels = torch.arange(600) % 10
    bursty = non_iid_order(labels, 20, 0.05, np.random.default_rng(0))
    assert sorted(bursty.tolist()) == list(range(600))
    classes_per_batch = [len(set(labels[bursty[i:i + 20]].tolist())) for i in range(0, 600, 20)]
    assert np.mean(classes_per_batch) < 4  # an i.i.d. batch of 20 holds about 8.8 of the 10 classes


@pytest.mark.parametrize("change, message", [
    ({"method": "tnet"}, "unknown test-time method 'tnet'; known: bn_adapt, cotta, deyo, eata"),
    ({"method": {"name": "tent", "lr": "fast"}}, "parameter 'lr' = 'fast'"),
    ({"targets": ["b", "z"]}, "dataset 'toy' has no domain 'z'"),
    ({"targets": "b"}, "`targets` must list the stream's domains"),
    ({"target": "b"}, "unknown key(s) target; a stream names its domains in `targets`"),
    ({"stream": {"batch_size": 0}}, "stream: batch_size: Input should be greater than or equal to 1"),
    ({"stream": {"order": "sorted"}}, "stream: order: Input should be 'iid' or 'dirichlet'"),
    ({"stream": {"batch_size": 500}}, "batch_size 500 is larger than the 120 test samples of b"),
    ({"method": "dann"}, "stream: dann is a training method: it adapts with the source data, which a stream does not"),
])
def test_bad_stream_input_is_a_one_line_error_before_any_work(change, message, tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(protocol, "train_source_stage", lambda *args: trained.append(args))
    with pytest.raises(DabenchError, match=None) as err:
        run_stream({**STREAM, **change}, tmp_path / "run")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert trained == []  # refused before the source model


def test_the_stream_command_writes_its_result_and_curve_and_list_shows_the_setting(tmp_path, capsys):
    import yaml

    (tmp_path / "stream.yaml").write_text(yaml.safe_dump(STREAM))
    assert main(["stream", str(tmp_path / "stream.yaml"), "--out", str(tmp_path / "out"), "--quiet",
                 "method.lr=0.001"]) == 0
    assert "tent: online accuracy" in capsys.readouterr().out
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["config"]["method"] == {"name": "tent", "lr": 0.001} and (tmp_path / "out" / "curve.png").is_file()
    assert main(["list", "stream"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("tent", "eata", "sar", "cotta", "rotta", "lame", "t3a", "memo", "deyo",
                                          "bn_adapt", "source"))


def test_a_gradual_stream_visits_a_domain_twice_and_reports_each_visit(tmp_path):
    result = run_stream({**STREAM, "targets": ["b", "c", "b"], "method": "bn_adapt"}, tmp_path / "gradual")
    assert list(result["online_accuracy_per_domain"]) == ["b", "c", "b (2)"] == list(result["final_model_accuracy"])
    assert all(0 <= a <= 100 for a in result["online_accuracy_per_domain"].values())
    assert list(result["batches_per_domain"].values()) == [8, 8, 8]  # 120 test samples, batches of 16
    overall = np.mean(list(result["online_accuracy_per_domain"].values()))  # equal-sized visits
    assert abs(result["online_accuracy"] - overall) < 1e-3


def test_a_method_that_returns_to_the_source_after_every_input_has_no_second_pass(tmp_path, monkeypatch):
    class Forgetful(StreamMethod):
        episodic_by_design = True

        def predict(self, x):
            raise AssertionError("a second pass")

    STREAM_METHODS.names()  # the registry imports its modules first
    monkeypatch.setitem(STREAM_METHODS._entries, "forgetful", Forgetful)
    result = run_stream({**STREAM, "method": "forgetful"}, tmp_path / "forgetful")
    assert result["final_model_accuracy"] == result["online_accuracy_per_domain"]
    assert result["final_model_pass"].startswith("the online pass")
