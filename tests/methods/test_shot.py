import numpy as np
import pytest
import torch

from dabench.log import Loggers
from dabench.methods.shot import cluster_pseudo_labels
from dabench.testing import build_toy, toy_config


class Forbidden:
    """A source batch that fails on any use."""

    def __getattr__(self, name):
        raise AssertionError(f"SHOT read the source batch ({name})")


def numpy_cluster_labels(features, probs):
    f = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    present = np.unique(probs.argmax(1))
    weights = probs
    for _ in range(2):
        c = weights.T @ f / (weights.sum(0)[:, None] + 1e-8)
        c = c[present] / np.linalg.norm(c[present], axis=1, keepdims=True)
        labels = present[(1 - f @ c.T).argmin(1)]
        weights = np.eye(probs.shape[1])[labels]
    return labels


def test_pseudo_labels_match_the_two_round_cosine_clustering():
    torch.manual_seed(0)
    features, probs = torch.randn(40, 6, dtype=torch.float64), torch.randn(40, 4, dtype=torch.float64).softmax(1)
    expected = numpy_cluster_labels(features.numpy(), probs.numpy())
    assert (cluster_pseudo_labels(features, probs).numpy() == expected).all()


def test_clustering_corrects_noisy_predictions_on_separated_clusters():
    torch.manual_seed(0)
    centers = torch.eye(3) * 10
    truth = torch.arange(60) % 3
    features = centers[truth] + torch.randn(60, 3)
    probs = torch.nn.functional.one_hot(truth, 3).float() * 0.6 + 0.4 / 3
    flipped = torch.arange(0, 60, 5)  # 20 % of the predictions point at the next class
    probs[flipped] = probs[flipped].roll(1, dims=1)
    assert (cluster_pseudo_labels(features, probs) == truth).all()


def test_adaptation_reads_no_source_data_and_keeps_the_classifier_frozen(tmp_path):
    trainer, method, data = build_toy(toy_config("shot"))
    classifier = method.model.classifier.weight.clone()
    backbone = method.model.backbone[1].weight.clone()
    original = method.updates
    method.updates = lambda s, t, progress, t_labeled=None: original(Forbidden(), t, progress, t_labeled)
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert torch.equal(method.model.classifier.weight, classifier)
    assert not torch.equal(method.model.backbone[1].weight, backbone)
    assert method.refreshed_at.item() >= 0 and (method.pseudo_labels >= 0).all()


def test_source_stage_uses_label_smoothing():
    from dabench.methods.base import METHODS

    assert METHODS.build("shot").source_stage() == {"method": {"name": "source_only", "label_smoothing": 0.1}}


def test_a_trained_shot_run_is_restored_whole_for_evaluation(tmp_path):
    """SHOT's pseudo-label memory is a buffer made in begin(): restoring needs the trainer's order."""
    from dabench.run import Run, train
    from dabench.testing import toy_config

    cfg = toy_config("shot", trainer={"steps": 6, "eval_every": 6})
    result = train(cfg, tmp_path / "run")
    run = Run.restore(tmp_path / "run")
    assert run.source_stage is not None and not run.method.training
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["method"]
    assert torch.equal(run.method.pseudo_labels, saved["pseudo_labels"])
    logits = run.method.predict(run.data.target_test.x)
    accuracy = (logits.argmax(1) == run.data.target_test.y).float().mean().item() * 100
    assert accuracy == pytest.approx(result["target_accuracy"])
