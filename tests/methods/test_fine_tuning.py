"""The fine-tuning methods' terms against hand computations on a toy model."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dabench.methods.bi_tuning import categorical_contrastive
from dabench.methods.co_tuning import category_relationship
from dabench.methods.stochnorm import StochNorm
from dabench.testing import build_toy, toy_config
from dabench.types import Batch


def built(spec, **sections):
    cfg = toy_config({"allow_random_backbone": True, **spec}, source="none", target_labeled=4, **sections)
    trainer, method, data = build_toy(cfg)
    method.begin(data.source_train, data.target_inputs)
    return method, Batch(data.source_train.x, data.source_train.y, torch.arange(len(data.source_train.y)))


def test_l2sp_terms_are_the_distance_to_the_start_and_the_new_layers_norm():
    method, batch = built({"name": "l2sp", "alpha": 0.3, "beta": 0.2})
    start = [p.detach().numpy().copy() for p in method.model.backbone.parameters()]
    with torch.no_grad():
        for p in method.model.backbone.parameters():
            p.add_(0.1 * torch.randn_like(p))
    terms = method.loss(batch, None, 0.0)
    moved = sum(((p.detach().numpy() - p0) ** 2).sum() for p, p0 in zip(method.model.backbone.parameters(), start))
    new = sum((p.detach().numpy() ** 2).sum() for m in (method.model.bottleneck, method.model.classifier)
              for p in m.parameters())
    assert terms["l2sp"].item() == pytest.approx(0.3 / 2 * moved, rel=1e-5)
    assert terms["l2_new"].item() == pytest.approx(0.2 / 2 * new, rel=1e-5)


def test_delta_penalises_the_feature_change_from_the_start():
    method, batch = built({"name": "delta", "alpha": 0.5})
    assert method.loss(batch, None, 0.0)["delta"].item() == 0.0  # the start is the current network
    reference = method.model.backbone(batch.x).detach().numpy()
    with torch.no_grad():
        for p in method.model.backbone.parameters():
            p.mul_(1.5)
    moved = method.model.backbone(batch.x).detach().numpy()
    expected = 0.5 / 2 * ((moved - reference) ** 2).sum(1).mean()
    assert method.loss(batch, None, 0.0)["delta"].item() == pytest.approx(expected, rel=1e-5)


def test_bss_is_the_smallest_squared_singular_value_of_the_features():
    method, batch = built({"name": "bss", "trade_off": 0.1, "k": 2})
    features = method.model(batch.x).features.detach().numpy()
    singular = np.linalg.svd(features, compute_uv=False)
    assert method.loss(batch, None, 0.0)["bss"].item() == pytest.approx(0.1 * (singular[-2:] ** 2).sum(), rel=1e-4)


def test_co_tuning_relationship_and_its_soft_old_task_labels():
    probs = np.array([[0.7, 0.3], [0.5, 0.5], [0.1, 0.9]])
    relation = category_relationship(torch.tensor(probs), torch.tensor([0, 0, 1]), 3).numpy()
    assert np.allclose(relation, [[0.6, 0.4], [0.1, 0.9], [0.0, 0.0]])
    method, batch = built({"name": "co_tuning", "trade_off": 2.0})
    old_logits = method.old(method.model.backbone(batch.x)).detach()
    expected = -(method.relationship[batch.y] * old_logits.log_softmax(1)).sum(1).mean() * 2.0
    assert method.loss(batch, None, 0.0)["co_tuning"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_lwf_distils_the_old_head_at_temperature_t_towards_the_original_network():
    method, batch = built({"name": "lwf", "trade_off": 1.5, "temperature": 2.0})
    logits = method.old(method.model.backbone(batch.x)).detach().numpy() / 2.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = 1.5 * -(p * np.log(p)).sum(1).mean()  # at the start the targets are the head's own softmax
    assert method.loss(batch, None, 0.0)["lwf"].item() == pytest.approx(expected, rel=1e-5)


def test_stochnorm_takes_moving_statistics_with_probability_p():
    batch_norm = torch.nn.BatchNorm1d(6)
    batch_norm.running_mean.uniform_(-1, 1)
    batch_norm.running_var.uniform_(0.5, 2)
    x = torch.randn(16, 6) * 3
    moving = F.batch_norm(x, batch_norm.running_mean.clone(), batch_norm.running_var.clone(), eps=batch_norm.eps)
    never, always = StochNorm(batch_norm, 0.0), StochNorm(batch_norm, 1.0)
    assert torch.allclose(never(x), F.batch_norm(x, None, None, training=True, eps=batch_norm.eps), atol=1e-6)
    assert torch.allclose(always(x), moving, atol=1e-6)
    assert torch.allclose(never.running_mean, always.running_mean)  # statistics updated as batch norm does
    torch.manual_seed(0)
    picks = torch.stack([torch.isclose(StochNorm(batch_norm, 0.5)(x), moving, atol=1e-6).all(0)
                         for _ in range(400)]).float().mean()
    assert 0.45 < picks < 0.55


def test_categorical_contrastive_against_a_loop():
    g = torch.Generator().manual_seed(0)
    queries, keys = (F.normalize(torch.randn(n, 4, generator=g), dim=1) for n in (3, 5))
    query_labels, key_labels = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 0, -1, 2])
    expected = 0.0
    for q, y in zip(queries, query_labels):
        valid = key_labels >= 0
        log_prob = (keys[valid] @ q / 0.5).log_softmax(0)
        expected += -log_prob[key_labels[valid] == y].mean()
    loss = categorical_contrastive(queries, keys, query_labels, key_labels, 0.5)
    assert loss.item() == pytest.approx((expected / 3).item(), rel=1e-5)


def test_lp_ft_trains_only_the_head_while_probing():
    method, batch = built({"name": "lp_ft", "probe_fraction": 0.5})
    method.train()
    statistics = method.model.bottleneck[1].running_mean.clone()
    method.loss(batch, None, 0.2)["cls"].backward()
    assert all(p.grad is None for p in method.model.backbone.parameters())
    assert all(p.grad is not None for p in method.model.classifier.parameters())
    assert not torch.equal(statistics, method.model.bottleneck[1].running_mean)  # the head still learns
    method.loss(batch, None, 0.7)["cls"].backward()
    assert all(p.grad is not None for p in method.model.backbone.parameters())


def test_layer_decay_gives_earlier_backbone_layers_smaller_rates():
    from dabench.trainer import layer_decayed

    method, _ = built({"name": "fine_tune"}, model={"backbone": {"name": "mlp", "hidden": [16, 8]}})
    groups = layer_decayed(method.optimizers(0.5)["main"], method, 0.5)
    in_backbone = set(map(id, method.model.backbone.parameters()))
    backbone = [g["lr_mult"] for g in groups if id(g["params"][0]) in in_backbone]
    assert backbone == [0.5 * 0.5 ** 2, 0.5 * 0.5]  # two Linear layers, L = 2
    assert [g["lr_mult"] for g in groups if id(g["params"][0]) not in in_backbone] == [1.0]
