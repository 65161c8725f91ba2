import torch

from dabench.losses.target import stepwise_feature_norm
from dabench.methods.base import METHODS


def test_value_is_delta_r_squared_and_a_step_grows_every_norm():
    h = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    loss = stepwise_feature_norm(h, delta_r=1.0)
    assert torch.isclose(loss, torch.tensor(1.0, dtype=torch.float64))
    loss.backward()
    stepped = h.detach() - 0.1 * h.grad
    assert (stepped.norm(dim=1) > h.detach().norm(dim=1)).all()


def test_afn_applies_the_norm_term_to_both_domains_with_the_paper_weight():
    method = METHODS.build("afn")
    weight, _ = method.terms()["norm"]
    assert weight == 0.05 and "ent" not in method.terms()
    assert "ent" in METHODS.build({"name": "afn", "entropy": 0.1}).terms()
