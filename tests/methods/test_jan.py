import numpy as np
import torch

from dabench.losses.discrepancy import jmmd
from dabench.methods.base import METHODS
from dabench.testing import outputs
from methods.reference import softmax, sq_dists


def numpy_jmmd(fs, ft, ps, pt, sigma=0.92):
    z, q = np.concatenate([fs, ft]), np.concatenate([ps, pt])
    d = sq_dists(z)
    base = d.sum() / (len(z) ** 2 - len(z))
    k_features = sum(np.exp(-d / (base * 2.0 ** (i - 2))) for i in range(5))
    k = k_features * np.exp(-sq_dists(q) / (2 * sigma ** 2))
    n = len(fs)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def test_jmmd_matches_the_product_kernel_formula():
    out_s, out_t = outputs(n=6, dim=4, classes=3, dtype=torch.float64)
    ps, pt = out_s.logits.softmax(1), out_t.logits.softmax(1)
    expected = numpy_jmmd(out_s.features.numpy(), out_t.features.numpy(), ps.numpy(), pt.numpy())
    assert np.isclose(jmmd([out_s.features, ps], [out_t.features, pt]).item(), expected)
    assert np.isclose(softmax(out_s.logits.numpy()), ps.numpy()).all()


def test_jan_term_is_zero_for_identical_domains_and_positive_otherwise():
    method = METHODS.build("jan")
    method.build(type("M", (), {"feature_dim": 4})(), num_classes=3, steps=100)
    out_s, out_t = outputs(n=6, dim=4)
    assert abs(method.align(out_s, out_s, 0.5)["jmmd"].item()) < 1e-6
    assert method.align(out_s, out_t, 0.5)["jmmd"].item() > 0.01
