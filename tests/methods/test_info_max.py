import math

import numpy as np
import torch

from dabench.losses.target import information_maximization
from methods.reference import entropy_rows, softmax


def test_matches_mean_entropy_minus_entropy_of_the_mean():
    logits = torch.randn(10, 5, dtype=torch.float64)
    p = softmax(logits.numpy())
    expected = entropy_rows(p).mean() - entropy_rows(p.mean(0, keepdims=True), 1e-5)[0]
    assert np.isclose(information_maximization(logits).item(), expected)


def test_confident_diverse_predictions_reach_minus_log_c_and_collapsed_ones_zero():
    diverse = torch.eye(5, dtype=torch.float64) * 100
    collapsed = torch.zeros(5, 5, dtype=torch.float64)
    collapsed[:, 2] = 100
    assert abs(information_maximization(diverse).item() + math.log(5)) < 1e-3
    assert abs(information_maximization(collapsed).item()) < 1e-3
