import torch

from dabench.losses.adversarial import RandomizedMultilinearMap, entropy_weights, multilinear_map
from dabench.methods.base import METHODS
from dabench.testing import outputs


def test_multilinear_map_is_the_flattened_outer_product():
    f, g = torch.randn(4, 3), torch.randn(4, 5).softmax(1)
    h = multilinear_map(f, g)
    assert h.shape == (4, 15)
    assert torch.allclose(h[2].view(3, 5), torch.outer(f[2], g[2]))


def test_randomized_map_preserves_inner_products_in_expectation():
    torch.manual_seed(0)
    f, g = torch.randn(2, 6), torch.randn(2, 4).softmax(1)
    exact = (multilinear_map(f, g)[0] * multilinear_map(f, g)[1]).sum()
    estimates = []
    for _ in range(400):
        t = RandomizedMultilinearMap(6, 4, output_dim=256)(f, g)
        estimates.append((t[0] * t[1]).sum())
    assert abs(torch.stack(estimates).mean() - exact) < 0.05 * exact.abs() + 0.02


def test_randomized_map_is_used_above_4096_dimensions():
    small, large = METHODS.build("cdan"), METHODS.build("cdan")
    small.build(type("M", (), {"feature_dim": 64})(), num_classes=10, steps=100)
    large.build(type("M", (), {"feature_dim": 1024})(), num_classes=10, steps=100)
    assert not small.alignment["adv"].randomized and small.alignment["adv"].discriminator.net[0].in_features == 640
    assert large.alignment["adv"].randomized and large.alignment["adv"].discriminator.net[0].in_features == 1024


def test_entropy_conditioning_weights_confident_samples_more_and_averages_one():
    probs = torch.tensor([[0.98, 0.01, 0.01], [0.34, 0.33, 0.33]])
    w = entropy_weights(probs)
    assert w[0] > w[1] and torch.isclose(w.mean(), torch.tensor(1.0))
    assert METHODS.build("cdan_e").entropy_conditioning and not METHODS.build("cdan").entropy_conditioning


def test_cdan_e_loss_is_the_weighted_cdan_loss():
    plain, weighted = METHODS.build({"name": "cdan", "hidden": 8}), METHODS.build({"name": "cdan_e", "hidden": 8})
    for m in (plain, weighted):
        torch.manual_seed(0)
        m.build(type("M", (), {"feature_dim": 4})(), num_classes=3, steps=100)
        m.eval()
    out_s, out_t = outputs(n=5, dim=4)
    a, b = plain.align(out_s, out_t, 0.5)["adv"], weighted.align(out_s, out_t, 0.5)["adv"]
    assert torch.isfinite(a) and torch.isfinite(b) and not torch.isclose(a, b)
