"""Label-free validators against numpy/scipy references on fixed small predictions and features,
and DEV's weights and risk against worked examples."""
import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import softmax

from dabench.errors import DabenchError
from dabench.selection import validators
from dabench.selection.validators import (
    VALIDATORS,
    LabeledPredictions,
    Predictions,
    dev_risk,
    importance_weights,
    score_all,
    validation_weights,
)

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [1.0, 1.0, 4.0], [0.0, 2.5, 2.4]])


def target(logits=LOGITS, features=None):
    logits = torch.tensor(logits, dtype=torch.float32)
    return Predictions(logits, torch.zeros(len(logits), 2) if features is None else torch.tensor(features))


def entropy_rows(p):
    return -(p * np.log(p)).sum(axis=1)


def test_entropy_im_and_bnm_match_numpy():
    p = softmax(LOGITS, axis=1)
    assert VALIDATORS.get("entropy")(target()) == pytest.approx(entropy_rows(p).mean(), rel=1e-5)
    im = entropy_rows(p.mean(axis=0, keepdims=True))[0] - entropy_rows(p).mean()
    assert VALIDATORS.get("im")(target()) == pytest.approx(im, rel=1e-4)
    nuclear = np.linalg.svd(p, compute_uv=False).sum() / len(p)
    assert VALIDATORS.get("bnm")(target()) == pytest.approx(nuclear, rel=1e-5)


def test_snd_matches_a_loop_over_samples():
    p = softmax(LOGITS, axis=1)
    f = p / np.linalg.norm(p, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(f)):
        others = [j for j in range(len(f)) if j != i]
        neighbours = softmax(np.array([f[i] @ f[j] / 0.05 for j in others]))
        total += -(neighbours * np.log(neighbours)).sum()
    assert VALIDATORS.get("snd")(target()) == pytest.approx(total / len(f), rel=1e-6)


def test_snd_is_the_log_of_the_neighbours_in_tight_clusters():
    """m identical confident predictions per class: each sample's soft neighbours are the other m - 1 of
    its cluster (other clusters are orthogonal, exp(-20) apart), so SND = log(m - 1): denser is higher."""
    for m in (3, 5):
        clustered = np.repeat(np.eye(3) * 30, m, axis=0)
        assert VALIDATORS.get("snd")(target(clustered)) == pytest.approx(np.log(m - 1), abs=1e-3)


def test_importance_weights_worked_example():
    # P(target|x) = 0.5, 0.8, 0.2 with 100 source and 50 target samples: odds 1, 4, 1/4, times 100/50.
    np.testing.assert_allclose(importance_weights(np.array([0.5, 0.8, 0.2]), 100, 50), [2.0, 8.0, 0.5])


def test_dev_risk_worked_example():
    # L = w * l = [2, 16, 1.5], mean 6.5; mean w 3.5; Var(w) = 31.5 / 2 = 15.75;
    # Cov(L, w) = (6.75 + 42.75 + 15) / 2 = 32.25; eta = -32.25 / 15.75; DEV = 6.5 + 2.5 eta.
    risk = dev_risk(np.array([1.0, 2.0, 3.0]), np.array([2.0, 8.0, 0.5]))
    assert risk == pytest.approx(6.5 + 2.5 * (-32.25 / 15.75))
    # Constant weights: no control variate, the plain weighted mean.
    assert dev_risk(np.array([1.0, 2.0, 3.0]), np.ones(3)) == pytest.approx(2.0)


def test_learned_weights_follow_the_true_density_ratio():
    """Source N(0, I), target N(mu, I): the true ratio p_t/p_s = exp(x.mu - |mu|^2/2) is what logistic
    regression models exactly, so the learned weights rank samples as it does and average about 1."""
    rng = np.random.default_rng(0)
    mu = np.array([1.0, 0.0])
    source, shifted = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)) + mu
    weights = validation_weights(LabeledPredictions(torch.zeros(1000, 3), torch.tensor(source), torch.zeros(1000)),
                                 Predictions(torch.zeros(1000, 3), torch.tensor(shifted)))
    truth = np.exp(source @ mu - mu @ mu / 2)
    assert stats.spearmanr(weights, truth).statistic > 0.95
    assert weights.mean() == pytest.approx(1.0, abs=0.15)


def test_dev_and_iwcv_score_a_better_classifier_lower():
    rng = np.random.default_rng(1)
    labels = torch.tensor(rng.integers(0, 3, 200))
    features = torch.tensor(rng.normal(size=(200, 4)))
    right = torch.nn.functional.one_hot(labels, 3).float() * 4
    wrong = torch.nn.functional.one_hot((labels + 1) % 3, 3).float() * 4
    shifted = Predictions(torch.zeros(300, 3), torch.tensor(rng.normal(size=(300, 4)) + 0.3))
    for name in ("dev", "iwcv"):
        good = VALIDATORS.get(name)(LabeledPredictions(right, features, labels), shifted)
        bad = VALIDATORS.get(name)(LabeledPredictions(wrong, features, labels), shifted)
        assert good < bad


def test_every_validator_runs_and_declares_label_free_splits():
    splits = {"target": target(), "source_val": LabeledPredictions(target().logits, torch.randn(5, 2),
                                                                   torch.tensor([0, 2, 1, 2, 1]))}
    scores = score_all(splits)
    assert set(scores) == {f"score/{name}" for name in VALIDATORS.names()} >= {
        "score/entropy", "score/im", "score/bnm", "score/snd", "score/dev", "score/iwcv"}
    assert all(np.isfinite(v) for v in scores.values())
    assert all(VALIDATORS.get(name).better in ("higher", "lower") for name in VALIDATORS.names())
    # Without a source validation split (val_fraction 0) the validators that need it give NaN.
    assert np.isnan(score_all({"target": target()})["score/dev"])


def test_dev_and_iwcv_share_one_domain_classifier_per_evaluation():
    splits = {"target": target(features=np.random.default_rng(0).normal(size=(5, 2))),
              "source_val": LabeledPredictions(target().logits, torch.randn(5, 2), torch.tensor([0, 2, 1, 2, 1]))}
    validation_weights.cache_clear()
    score_all(splits)
    assert (validation_weights.cache_info().misses, validation_weights.cache_info().hits) == (1, 1)
    score_all({**splits, "target": target(features=np.ones((5, 2)))})  # the next evaluation fits its own
    assert validation_weights.cache_info().misses == 2


def test_non_finite_outputs_and_a_single_validation_sample_score_nan_instead_of_crashing():
    nan_target = target(np.full((5, 3), np.nan))
    assert all(np.isnan(v) for v in score_all({"target": nan_target}).values())
    one = LabeledPredictions(torch.zeros(1, 3), torch.randn(1, 2), torch.tensor([1]))  # a valid tiny split
    scores = score_all({"target": target(features=np.random.default_rng(0).normal(size=(5, 2))), "source_val": one})
    assert np.isnan(scores["score/dev"]) and np.isnan(scores["score/iwcv"]) and np.isfinite(scores["score/entropy"])


def test_a_validator_cannot_ask_for_target_test(monkeypatch):
    @VALIDATORS.register("test_peek", better="higher")
    def peek(target, target_test):
        return 0.0

    try:
        with pytest.raises(DabenchError, match="target_test.*target labels are for the oracle"):
            validators.reads("test_peek")
    finally:
        del VALIDATORS._entries["test_peek"]
