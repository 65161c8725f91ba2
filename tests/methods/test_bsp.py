import numpy as np
import torch

from dabench.losses.discrepancy import batch_spectral_penalty
from dabench.methods.base import METHODS


def test_penalty_is_the_sum_of_the_top_k_squared_singular_values():
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    for k in (1, 2):
        expected = sum((np.linalg.svd(a.numpy(), compute_uv=False)[:k] ** 2).sum() for a in (x, y))
        assert np.isclose(batch_spectral_penalty(x, y, k).item(), expected)


def test_a_gradient_step_shrinks_the_largest_singular_value_most():
    x = torch.randn(16, 6, dtype=torch.float64) @ torch.diag(torch.tensor([5.0, 2, 1, 1, 1, 1], dtype=torch.float64))
    x.requires_grad_()
    before = torch.linalg.svdvals(x.detach())
    batch_spectral_penalty(x, torch.zeros(2, 6, dtype=torch.float64), k=1).backward()
    after = torch.linalg.svdvals(x.detach() - 0.01 * x.grad)
    assert after[0] < before[0] and torch.allclose(after[1:], before[1:])


def test_bsp_adds_the_penalty_to_its_base_method_terms():
    for base, name in (("dann", "adv"), ("cdan", "adv")):
        method = METHODS.build({"name": "bsp", "base": base})
        assert set(method.terms()) == {name, "bsp"} and method.terms()["bsp"][0] == 1e-4
