import numpy as np
import torch

from dabench.losses.target import minimum_class_confusion
from methods.reference import entropy_rows, softmax


def numpy_mcc(logits, t):
    p = softmax(logits / t)
    w = 1 + np.exp(-entropy_rows(p, 1e-5))
    w = len(p) * w / w.sum()
    c = (p * w[:, None]).T @ p
    c = c / c.sum(axis=1, keepdims=True)
    return (c.sum() - np.trace(c)) / p.shape[1]


def test_mcc_matches_the_class_normalised_confusion_formula():
    logits = torch.randn(12, 4, dtype=torch.float64)
    assert np.isclose(minimum_class_confusion(logits, 2.5).item(), numpy_mcc(logits.numpy(), 2.5))


def test_confident_distinct_predictions_have_no_confusion_and_uniform_ones_the_most():
    confident = torch.eye(4, dtype=torch.float64).repeat(3, 1) * 200
    assert minimum_class_confusion(confident, 2.5).item() < 1e-9
    uniform = torch.zeros(12, 4, dtype=torch.float64)
    assert np.isclose(minimum_class_confusion(uniform, 2.5).item(), 3 / 4)
