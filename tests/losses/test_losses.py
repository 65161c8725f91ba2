"""Each loss against an independent reference on fixed inputs."""
import math

import numpy as np
import pytest
import torch

from dabench.losses.adversarial import dann_coefficient, domain_adversarial_loss, grad_reverse
from dabench.losses.discrepancy import coral, mmd
from dabench.losses.target import entropy
from dabench.losses.terms import ALIGNMENTS
from dabench.testing import outputs
from dabench.types import Outputs


def mmd_reference(x: np.ndarray, y: np.ndarray, kernel_mul=2.0, num_kernels=5) -> float:
    """Biased MK-MMD^2 with explicit loops over sample pairs."""
    z = np.concatenate([x, y])
    n, total = len(x), len(x) + len(y)
    sq = [[float(((z[i] - z[j]) ** 2).sum()) for j in range(total)] for i in range(total)]
    base = sum(sq[i][j] for i in range(total) for j in range(total)) / (total * total - total)
    widths = [base * kernel_mul ** (k - num_kernels // 2) for k in range(num_kernels)]
    k = lambda i, j: sum(math.exp(-sq[i][j] / w) for w in widths)  # noqa: E731
    xx = sum(k(i, j) for i in range(n) for j in range(n)) / n ** 2
    yy = sum(k(i, j) for i in range(n, total) for j in range(n, total)) / (total - n) ** 2
    xy = sum(k(i, j) for i in range(n) for j in range(n, total)) / (n * (total - n))
    return xx + yy - 2 * xy


def test_mmd_equals_loop_reference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(5, 3)) + 0.5
    assert mmd(torch.tensor(x), torch.tensor(y)).item() == pytest.approx(mmd_reference(x, y), rel=1e-5)


def test_mmd_of_a_batch_with_itself_is_zero_and_grows_with_mean_shift():
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    assert mmd(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)
    values = [mmd(x, x + shift).item() for shift in (0.25, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(values, values[1:]))


def test_coral_matches_numpy_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 4)), rng.normal(size=(7, 4)) * 2
    expected = ((np.cov(x, rowvar=False) - np.cov(y, rowvar=False)) ** 2).sum() / (4 * 4 ** 2)
    assert coral(torch.tensor(x), torch.tensor(y)).item() == pytest.approx(expected, rel=1e-5)


def test_grad_reverse_flips_and_scales_gradient_exactly():
    x = torch.randn(5, 3, requires_grad=True)
    upstream = torch.randn(5, 3)
    out = grad_reverse(x, 0.37)
    assert torch.equal(out, x)
    out.backward(upstream)
    assert torch.equal(x.grad, -0.37 * upstream)


def test_dann_coefficient_schedule():
    assert dann_coefficient(0.0) == 0.0
    assert dann_coefficient(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert dann_coefficient(1.0) == pytest.approx(0.99991, abs=1e-5)


def test_domain_loss_is_log2_at_zero_logits_and_labels_source_one():
    assert domain_adversarial_loss(torch.zeros(4, 1), torch.zeros(6, 1)).item() == pytest.approx(math.log(2))
    confident = domain_adversarial_loss(torch.full((4, 1), 20.0), torch.full((6, 1), -20.0))
    assert confident.item() < 1e-8


def test_entropy_matches_numpy():
    logits = np.random.default_rng(2).normal(size=(6, 4))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -(p * np.log(p)).sum(1).mean()
    assert entropy(torch.tensor(logits)).item() == pytest.approx(expected, rel=1e-6)
    assert entropy(torch.zeros(3, 4)).item() == pytest.approx(math.log(4))


def test_losses_pass_gradcheck_in_float64():
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 3, dtype=torch.float64, requires_grad=True) + 1
    assert torch.autograd.gradcheck(coral, (x, y))
    assert torch.autograd.gradcheck(lambda a: entropy(a), (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["mmd", "coral", "adversarial", "entropy"])
def test_every_term_is_finite_and_differentiable(name, dtype):
    out_s, out_t = outputs(n=16, dim=6, classes=3, dtype=dtype)
    features_s = out_s.features.clone().requires_grad_()
    term = ALIGNMENTS.build(name)
    term.build(feature_dim=6, num_classes=3, steps=100)
    logits_t = out_t.logits.clone().requires_grad_()
    # bf16 is how terms run under CUDA autocast; CPU autocast reproduces it here.
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        value = term(Outputs(features_s, out_s.logits), Outputs(out_t.features, logits_t), progress=0.5)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    grads = [g for g in (features_s.grad, logits_t.grad) if g is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
