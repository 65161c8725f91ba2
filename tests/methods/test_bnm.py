import numpy as np
import torch

from dabench.losses.target import batch_nuclear_norm
from methods.reference import softmax


def test_bnm_is_minus_the_nuclear_norm_over_the_batch_size():
    logits = torch.randn(9, 4, dtype=torch.float64)
    expected = -np.linalg.svd(softmax(logits.numpy()), compute_uv=False).sum() / 9
    assert np.isclose(batch_nuclear_norm(logits).item(), expected)


def test_confident_and_diverse_predictions_minimise_it():
    diverse = torch.eye(4, dtype=torch.float64).repeat(2, 1) * 100
    collapsed = torch.zeros(8, 4, dtype=torch.float64)
    collapsed[:, 0] = 100
    assert batch_nuclear_norm(diverse) < batch_nuclear_norm(collapsed) < batch_nuclear_norm(torch.zeros(8, 4))
    assert np.isclose(batch_nuclear_norm(diverse).item(), -4 * np.sqrt(2) / 8)
