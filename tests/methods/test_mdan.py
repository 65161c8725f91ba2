import torch
import torch.nn.functional as F

from dabench.data.loaders import source_batches
from dabench.testing import build_toy, toy_config
from dabench.types import Batch


def batches(data):
    """Batch 0 of the run's source stream (6 samples of each source) and 10 target inputs."""
    target = Batch(data.target_train[:10], None, torch.arange(10))
    return source_batches(data.source_train, 12, seed=0).batch(0), target


def test_one_discriminator_per_source_and_the_soft_maximum_of_their_losses():
    _, method, data = build_toy(toy_config({"name": "mdan", "gamma": 5.0, "mu": 0.3}, source=["a", "c"]))
    assert len(method.discriminators) == 2
    method.eval()
    s, t = batches(data)
    loss = method.loss(s, t, progress=0.5)["mdan"]
    out_s, out_t = method.forward_pair(s.x, t.x)
    per_source = []
    for d in (0, 1):
        mine = s.domain == d
        discriminator = method.discriminators[d]
        adv = (F.binary_cross_entropy_with_logits(discriminator(out_s.features[mine]).squeeze(1), torch.ones(mine.sum()))
               + F.binary_cross_entropy_with_logits(discriminator(out_t.features).squeeze(1), torch.zeros(10)))
        per_source.append(F.cross_entropy(out_s.logits[mine], s.y[mine]) + 0.3 * adv)
    expected = torch.log(torch.exp(5.0 * per_source[0]) + torch.exp(5.0 * per_source[1])) / 5.0
    assert torch.allclose(loss, expected, atol=1e-6)
    assert expected > max(per_source)  # a smooth maximum: above the worst source


def test_discriminators_learn_while_the_features_get_the_reversed_gradient():
    _, method, data = build_toy(toy_config("mdan", source=["a", "c"]))
    method.eval()
    s, t = batches(data)
    feature_layer, discriminator_layer = method.model.bottleneck[0].weight, method.discriminators[1].net[0].weight
    with_reversal = torch.autograd.grad(method.loss(s, t, 0.5)["mdan"], [feature_layer, discriminator_layer])
    # the same loss with the reversal removed: the discriminators' gradient is unchanged
    import dabench.methods.mdan as mdan

    original = mdan.grad_reverse
    mdan.grad_reverse = lambda x, coeff: x
    try:
        without = torch.autograd.grad(method.loss(s, t, 0.5)["mdan"], [feature_layer, discriminator_layer])
    finally:
        mdan.grad_reverse = original
    assert torch.allclose(with_reversal[1], without[1], atol=1e-7)
    assert not torch.allclose(with_reversal[0], without[0])
    assert any(p is discriminator_layer for group in method.param_groups(1.0) for p in group["params"])
