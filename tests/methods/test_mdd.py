import numpy as np
import pytest
import torch

from dabench.losses.adversarial import dann_coefficient, margin_disparity_discrepancy
from dabench.methods.base import METHODS
from dabench.testing import outputs
from dabench.types import Outputs
from methods.reference import softmax


def test_loss_matches_the_margin_disparity_formula():
    adv_s, adv_t = torch.randn(5, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    pred_s, pred_t = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([1, 1, 2, 0, 3, 2])
    p_s, p_t = softmax(adv_s.numpy()), softmax(adv_t.numpy())
    expected = (4.0 * -np.log(p_s[range(5), pred_s]).mean() - np.log(1 - p_t[range(6), pred_t]).mean())
    assert np.isclose(margin_disparity_discrepancy(adv_s, adv_t, pred_s, pred_t, 4.0).item(), expected)


def test_features_get_the_reversed_head_gradient_scaled_by_at_most_0_1():
    method = METHODS.build({"name": "mdd", "width": 16})
    method.build(type("M", (), {"feature_dim": 5})(), num_classes=3, steps=100)
    method.eval()
    out_s, out_t = outputs(n=6, dim=5)
    f_s = out_s.features.clone().requires_grad_()
    method.align(Outputs(f_s, out_s.logits), out_t, progress=1.0)["mdd"].backward()
    head = method.alignment["mdd"].adversarial_head
    g_s = out_s.features.clone().requires_grad_()
    adv = head(torch.cat([g_s, out_t.features]))
    margin_disparity_discrepancy(adv[:6], adv[6:], out_s.logits.argmax(1), out_t.logits.argmax(1)).backward()
    coefficient = 0.1 * dann_coefficient(1.0)
    assert torch.allclose(f_s.grad, -coefficient * g_s.grad, atol=1e-6)


def test_mdd_init_draws_the_adversarial_head_as_the_reference_code():
    torch.manual_seed(0)
    method = METHODS.build({"name": "mdd", "init": "mdd"})
    method.build(type("M", (), {"feature_dim": 1024})(), num_classes=10, steps=100)
    head = method.alignment["mdd"].adversarial_head
    assert torch.all(head[0].bias == 0) and torch.all(head[3].bias == 0)
    assert head[0].weight.std().item() == pytest.approx(0.01, rel=0.01)
