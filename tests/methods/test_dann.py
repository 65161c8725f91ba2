import math

import torch

from dabench.losses.adversarial import dann_coefficient, domain_adversarial_loss
from dabench.methods.base import METHODS
from dabench.testing import outputs
from dabench.types import Outputs


def test_features_receive_minus_lambda_times_the_discriminator_gradient():
    method = METHODS.build({"name": "dann", "trade_off": 2.0, "hidden": 16})
    method.build(type("M", (), {"feature_dim": 5})(), num_classes=3, steps=100)
    method.eval()  # no dropout: both passes see the same discriminator
    out_s, out_t = outputs(n=6, dim=5)
    f_s, f_t = out_s.features.clone().requires_grad_(), out_t.features.clone().requires_grad_()
    adv = method.align(Outputs(f_s, out_s.logits), Outputs(f_t, out_t.logits), progress=0.3)["adv"]
    adv.backward()

    g_s, g_t = out_s.features.clone().requires_grad_(), out_t.features.clone().requires_grad_()
    disc = method.alignment["adv"].discriminator
    (2.0 * domain_adversarial_loss(disc(g_s), disc(g_t))).backward()
    lam = dann_coefficient(0.3)
    assert torch.allclose(f_s.grad, -lam * g_s.grad) and torch.allclose(f_t.grad, -lam * g_t.grad)


def test_adversarial_loss_starts_at_log2_with_a_zeroed_discriminator():
    method = METHODS.build({"name": "dann", "hidden": 8})
    method.build(type("M", (), {"feature_dim": 5})(), num_classes=3, steps=100)
    torch.nn.init.zeros_(method.alignment["adv"].discriminator.net[-1].weight)
    torch.nn.init.zeros_(method.alignment["adv"].discriminator.net[-1].bias)
    out_s, out_t = outputs(n=4, dim=5)
    assert abs(method.align(out_s, out_t, 0.0)["adv"].item() - math.log(2)) < 1e-6
