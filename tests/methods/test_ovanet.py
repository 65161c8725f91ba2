import math

import torch

from dabench.evaluate import open_set_predictions
from dabench.log import Loggers
from dabench.methods.ovanet import hard_negative_loss, one_vs_all_entropy, one_vs_all_probs
from dabench.testing import build_toy, toy_config


def test_hard_negative_loss_and_entropy_by_hand():
    # K = 3; one sample, label 1: p_pos = (0.2, 0.7, 0.4) -> p_neg = (0.8, 0.3, 0.6)
    p_pos = torch.tensor([[0.2, 0.7, 0.4]])
    probs = torch.stack([1 - p_pos, p_pos], dim=1)
    expected = 0.5 * (-math.log(0.7) + max(-math.log(0.8), -math.log(0.6)))
    assert abs(hard_negative_loss(probs, torch.tensor([1])).item() - expected) < 1e-5
    entropy = sum(-p * math.log(p) - (1 - p) * math.log(1 - p) for p in (0.2, 0.7, 0.4)) / 3
    assert abs(one_vs_all_entropy(probs).item() - entropy) < 1e-5
    logits = torch.tensor([[0.0, 1.0, 2.0, 2.0, 0.0, 1.0]])  # (N, 2K): negatives first
    assert torch.allclose(one_vs_all_probs(logits)[0, 1], torch.sigmoid(torch.tensor([2.0, -1.0, -1.0])))


def test_unknown_is_predicted_exactly_when_the_predicted_class_says_negative():
    _, method, data = build_toy(toy_config("ovanet", source_classes=[0, 1]))
    method.eval()
    x = data.target_test.x[:50]
    with torch.no_grad():
        logits = method.outputs(x).logits
        closed = method.model(x)
        probs = one_vs_all_probs(method.one_vs_all(closed.features))
    predicted = closed.logits.argmax(1)
    negative = probs[torch.arange(50), 0, predicted] > 0.5
    expected = torch.where(negative, 2, predicted)
    assert logits.shape == (50, 3) and torch.equal(open_set_predictions(logits, 2, threshold=0.99), expected)


def test_training_makes_each_source_sample_positive_for_its_class_and_negative_for_the_rest(tmp_path):
    cfg = toy_config("ovanet", source_classes=[0, 1, 2], dataset={"name": "toy", "num_classes": 4, "samples": 400},
                     trainer={"steps": 100, "eval_every": 100})
    trainer, method, data = build_toy(cfg)
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    method.eval()
    with torch.no_grad():
        probs = one_vs_all_probs(method.one_vs_all(method.model(data.source_val.x).features))
    labels = data.source_val.y
    positive = probs[torch.arange(len(labels)), 1, labels] > 0.5
    others = probs[:, 0].masked_fill(torch.nn.functional.one_hot(labels, 3).bool(), 1.0).min(dim=1).values > 0.5
    assert positive.float().mean() > 0.9 and others.float().mean() > 0.9
