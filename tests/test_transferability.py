"""Transferability scores on cases with a known answer, and dabench rank end to end on toy runs."""
import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from dabench.cli import main
from dabench.errors import DabenchError
from dabench.transferability.rank import correlations
from dabench.transferability.scores import hscore, leep, logme, nce, transrate

rng = np.random.default_rng(0)
LABELS = np.repeat(np.arange(3), 20)
SEPARABLE = np.eye(3)[LABELS] * 3 + rng.normal(size=(60, 3)) * 0.5
SHUFFLED = rng.permutation(LABELS)


def test_logme_is_the_maximum_evidence_and_prefers_features_that_fit_the_labels():
    mixed = np.r_[0:6, 20:26]  # six samples of class 0, six of class 1
    f, binary = SEPARABLE[mixed, :2], (LABELS[mixed] == 0).astype(int)

    def best_evidence(y):  # brute force: max over a grid of log N(y; 0, F F' / alpha + I / beta), per sample
        return max(multivariate_normal(np.zeros(12), f @ f.T / a + np.eye(12) / b).logpdf(y)
                   for a in np.logspace(-3, 3, 61) for b in np.logspace(-3, 3, 61)) / 12

    grid = (best_evidence(binary.astype(float)) + best_evidence(1.0 - binary)) / 2  # one-vs-rest, both classes
    assert grid - 1e-9 <= logme(f, binary) <= grid + 5e-3
    assert logme(SEPARABLE, LABELS) > logme(SEPARABLE, SHUFFLED)


def test_leep_closed_form_on_a_hand_made_joint_distribution():
    theta = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    joint = np.array([[0.9 + 0.6, 0.1 + 0.4], [0.2 + 0.3, 0.8 + 0.7]]) / 4  # P(y, z)
    conditional = joint / joint.sum(0)  # P(y | z)
    expected = np.mean([np.log(theta[i] @ conditional[labels[i]]) for i in range(4)])
    assert leep(None, labels, np.log(theta)) == pytest.approx(expected)


def test_nce_is_zero_when_labels_follow_the_source_prediction_and_minus_the_entropy_when_independent():
    z = np.array([0, 0, 1, 1, 2, 2])
    logits = np.eye(3)[z] * 5
    assert nce(None, np.array([1, 1, 0, 0, 1, 1]), logits) == pytest.approx(0.0)
    independent = np.array([0, 1, 0, 1, 0, 1])
    assert nce(None, independent, logits) == pytest.approx(-np.log(2))


def test_hscore_is_invariant_to_invertible_affine_maps_and_bounded_by_classes_minus_one():
    value = hscore(SEPARABLE, LABELS)
    mixed = SEPARABLE @ np.array([[2.0, 1, 0], [0, 1, 0], [1, 0, 3]]) + 7
    assert hscore(mixed, LABELS) == pytest.approx(value, rel=1e-6)
    assert 0 < hscore(SEPARABLE, SHUFFLED) < value <= 2 + 1e-9


def test_transrate_is_non_negative_and_higher_for_the_true_labels():
    assert transrate(SEPARABLE, LABELS) > transrate(SEPARABLE, SHUFFLED) >= 0


def test_kendall_tau_of_scores_against_accuracy():
    table = {c: {"logme": v, "nce": -v} for c, v in zip("abcd", (1.0, 2.0, 3.0, 4.0))}
    taus = correlations(table, dict(zip("abcd", (10.0, 20.0, 30.0, 40.0))))
    assert taus["logme"]["kendall_tau"] == pytest.approx(1.0) and taus["nce"]["kendall_tau"] == pytest.approx(-1.0)
    with pytest.raises(DabenchError, match="at least 3 candidates"):
        correlations(table, {"a": 1.0})


def test_rank_scores_finished_runs_and_refuses_logits_from_a_backbone_without_a_head(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
    common = ["--dataset", "toy", "model.backbone={name: mlp, hidden: [16]}", "model.bottleneck_dim=8"]
    for steps in (1, 8):
        assert main(["train", *common, "--source", "a", "--target", "b", "--out", str(tmp_path / f"run{steps}"),
                     "--quiet", f"trainer.steps={steps}", "trainer.eval_every=1", "trainer.device=cpu"]) == 0
    capsys.readouterr()
    assert main(["rank", *common[:2], "--target", "c", "--candidates", str(tmp_path / "run1"), str(tmp_path / "run8"),
                 "target_labeled=5", "--out", str(tmp_path / "rank"), *common[2:]]) == 0
    out = capsys.readouterr().out
    assert "| candidate | what | hscore | leep | logme | nce | transrate |" in out and "15 samples" in out
    report = json.loads((tmp_path / "rank" / "transferability.json").read_text())
    assert set(report["scores"][str(tmp_path / "run8")]) == {"hscore", "leep", "logme", "nce", "transrate"}
    assert main(["rank", *common[:2], "--target", "c", "--candidates", "mlp", "--scores", "leep", *common[2:]]) == 2
    assert "score 'leep' reads the pretrained task's predictions, and candidate mlp has no classifier" in \
        capsys.readouterr().err
    layer = f"{tmp_path / 'run8'}@1"  # the run's first Linear layer: 16 features
    assert main(["rank", *common[:2], "--target", "c", "--candidates", layer, "--scores", "logme,hscore",
                 *common[2:]]) == 0
    assert f"| {layer} |" in capsys.readouterr().out
    assert main(["rank", *common[:2], "--target", "c", "--candidates", "mlp@nope", "--scores", "logme", *common[2:]]) == 2
    assert "candidate mlp@nope: the backbone has no layer 'nope'; its layers: 0, 1, 2, 3" in capsys.readouterr().err
    import shutil

    shutil.copytree(tmp_path / "run8", tmp_path / "broken")
    (tmp_path / "broken" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main(["rank", *common[:2], "--target", "c", "--candidates", str(tmp_path / "broken"), *common[2:]]) == 2
    err = capsys.readouterr().err
    assert "broken/checkpoint.pt is not a loadable dabench checkpoint" in err and err.count("\n") == 1
