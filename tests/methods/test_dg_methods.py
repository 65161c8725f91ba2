"""The domain-generalization methods against hand computation: CORAL/MMD across sources, IRM, GroupDRO."""
import math

import pytest
import torch
import torch.nn.functional as F

from dabench.data.loaders import source_batches
from dabench.losses.discrepancy import coral, mmd
from dabench.methods.irm import irm_penalty
from dabench.testing import build_toy, toy_config


def built(method):
    _, built_method, data = build_toy(toy_config(method, source=["a", "c"], unseen_target=True))
    built_method.eval()
    return built_method, source_batches(data.source_train, 16, seed=0).batch(0)  # 8 of each source


def test_coral_and_mmd_align_the_two_sources():
    for name, distance in (("coral_dg", lambda x, y: coral(x, y, "tllib")), ("mmd_dg", mmd)):
        method, s = built(name)
        terms = method.loss(s, None, 0.5)
        out = method.model(s.x)
        assert torch.allclose(terms["align"], distance(out.features[s.domain == 0], out.features[s.domain == 1]))
        assert torch.allclose(terms["cls"], F.cross_entropy(out.logits, s.y))


def test_irm_penalty_is_the_product_of_the_half_batch_gradients():
    logits, labels = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5], [2.0, 1.0]]), torch.tensor([0, 1, 1, 0])

    def grad(rows):  # d/dw CE(w z, y) at w = 1: mean over rows of sum_c p_c z_c - z_y
        z, y = logits[rows], labels[rows]
        return ((z.softmax(1) * z).sum(1) - z[torch.arange(len(y)), y]).mean()

    assert torch.allclose(irm_penalty(logits, labels), grad([0, 2]) * grad([1, 3]))


def test_irm_weight_jumps_after_the_anneal_steps_and_the_loss_is_rescaled():
    method, s = built({"name": "irm", "penalty_weight": 50.0, "anneal_iters": 10})
    early, late = method.loss(s, None, 5 / 20), method.loss(s, None, 10 / 20)  # the toy run has 20 steps
    # after the jump: (risk + 50 penalty) / 50, the IRM authors' rescaling
    assert torch.allclose(late["irm"], early["irm"]) and torch.allclose(late["cls"], early["cls"] / 50)


def test_group_dro_raises_the_weight_of_the_worse_source():
    method, s = built({"name": "group_dro", "eta": 0.5})
    out = method.model(s.x)
    risks = torch.stack([F.cross_entropy(out.logits[s.domain == d], s.y[s.domain == d]) for d in (0, 1)])
    loss = method.loss(s, None, 0.0)["cls"]
    q = 0.5 * torch.exp(0.5 * risks)
    q = q / q.sum()
    assert torch.allclose(method.group_weight, q) and torch.allclose(loss, (q * risks).sum())
    assert method.group_weight[risks.argmax()] > 0.5 and math.isclose(method.group_weight.sum().item(), 1.0, rel_tol=1e-6)


def test_dann_dg_classifies_the_training_domain_behind_the_reversal():
    method, s = built({"name": "dann_dg", "trade_off": 0.5})
    assert method.discriminator.net[-1].out_features == 2  # one output per training domain
    terms = method.loss(s, None, 0.5)
    out = method.model(s.x)
    assert torch.allclose(terms["adv"], 0.5 * F.cross_entropy(method.discriminator(out.features), s.domain))
    layer = method.model.bottleneck[0].weight
    reversed_grad = torch.autograd.grad(terms["adv"], layer)[0]
    plain = torch.autograd.grad(0.5 * F.cross_entropy(method.discriminator(method.model(s.x).features), s.domain),
                                layer)[0]
    from dabench.losses.adversarial import reversal_coefficient

    assert torch.allclose(reversed_grad, -reversal_coefficient(0.5, 20) * plain, atol=1e-6)


def test_mix_styles_swaps_channel_statistics_by_hand():
    from dabench.methods.mixstyle import mix_styles

    x = torch.randn(2, 3, 4, 4) * torch.tensor([1.0, 2.0])[:, None, None, None] + torch.tensor([0.0, 5.0])[:, None, None, None]
    swapped = mix_styles(x, torch.zeros(2), torch.tensor([1, 0]))  # lam 0: each sample takes its partner's style
    assert torch.allclose(swapped.mean(dim=(2, 3)), x.mean(dim=(2, 3))[[1, 0]], atol=1e-5)
    assert torch.allclose(swapped.std(dim=(2, 3), unbiased=False), x.std(dim=(2, 3), unbiased=False)[[1, 0]], atol=1e-3)
    assert torch.allclose(mix_styles(x, torch.ones(2), torch.tensor([1, 0])), x, atol=1e-5)  # lam 1: unchanged


def test_mixstyle_mixes_only_in_training_after_the_named_layers():
    from dabench.errors import DabenchError
    from dabench.methods.mixstyle import MixStyle
    from dabench.models.model import build_model

    model = build_model({"name": "lenet"}, (1, 28, 28), num_classes=3, bottleneck_dim=8)
    method = MixStyle(p=1.0, layers=["2"])
    method.build(model, 3, steps=10)
    x = torch.randn(6, 1, 28, 28)
    method.eval()
    assert torch.equal(method.model.backbone(x), method.model.backbone(x))
    method.train()
    model.backbone[4].p = 0.0  # no dropout, so that only MixStyle differs from eval mode
    torch.manual_seed(0)
    mixed = method.model.backbone(x)
    method.eval()
    assert not torch.allclose(mixed, method.model.backbone(x))
    with pytest.raises(DabenchError, match="method.layers: the backbone has no layer 'layer1'; its layers: 0, 1, 2"):
        MixStyle().build(build_model({"name": "lenet"}, (1, 28, 28), num_classes=3), 3, steps=10)
