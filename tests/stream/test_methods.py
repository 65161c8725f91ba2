"""Each test-time method's update or adjustment against a hand computation on a tiny model."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dabench.models.model import Model
from dabench.stream.base import STREAM_METHODS, augment_images
from dabench.stream.methods.lame import knn_affinity, laplacian_assignments


def tiny_model(seed: int = 0) -> Model:
    """Identity backbone on (N, 4) inputs, a Linear(4, 4)-BatchNorm-ReLU bottleneck with source statistics,
    and a linear classifier to 3 classes."""
    torch.manual_seed(seed)
    backbone = nn.Identity()
    backbone.feature_dim = 4
    model = Model(backbone, num_classes=3, bottleneck_dim=4)
    norm = model.bottleneck[1]
    norm.running_mean.copy_(torch.tensor([0.5, -0.5, 1.0, 0.0]))
    norm.running_var.copy_(torch.tensor([2.0, 1.0, 0.5, 1.5]))
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 0.5, 2.0, 1.5]))
        norm.bias.copy_(torch.tensor([0.1, -0.2, 0.0, 0.3]))
    return model.eval()


def tiny_image_model(seed: int = 0) -> Model:
    """A (N, 3, 8, 8) image model: a 3x3 convolution to 4 channels, global average pooling, then the tiny model's
    Linear-BatchNorm-ReLU bottleneck and linear classifier to 3 classes."""
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    backbone.feature_dim = 4
    return Model(backbone, num_classes=3, bottleneck_dim=4).eval()


def by_hand(model: Model, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """The model's logits with its batch norm normalising by `mean` and `var`."""
    linear, norm = model.bottleneck[0], model.bottleneck[1]
    h = (linear(x) - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
    return model.classifier(h.relu())


@pytest.mark.parametrize("source_weight", [0.0, 0.3])
def test_bn_adapt_normalises_with_the_mixed_statistics(source_weight):
    model, x = tiny_model(), torch.randn(8, 4)
    source = (model.bottleneck[1].running_mean.clone(), model.bottleneck[1].running_var.clone())
    with torch.no_grad():
        h = model.bottleneck[0](x)
        mean = source_weight * source[0] + (1 - source_weight) * h.mean(0)
        var = source_weight * source[1] + (1 - source_weight) * h.var(0, unbiased=False)
        expected = by_hand(model, x, mean, var)
    method = STREAM_METHODS.build({"name": "bn_adapt", "source_weight": source_weight})
    method.setup(model)
    assert torch.allclose(method(x), expected, atol=1e-6)


def test_tent_returns_the_logits_it_adapts_on_then_takes_one_sgd_step_on_the_affine_parameters():
    x = torch.randn(8, 4)
    reference = tiny_model()
    linear, norm = reference.bottleneck[0], reference.bottleneck[1]
    h = linear(x).detach()
    weight, bias = norm.weight.detach().clone().requires_grad_(), norm.bias.detach().clone().requires_grad_()
    normed = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + norm.eps) * weight + bias
    logits = reference.classifier(normed.relu())
    p = logits.softmax(1)
    (-(p * p.log()).sum(1).mean()).backward()  # the mean entropy, in nats
    method = STREAM_METHODS.build({"name": "tent", "lr": 0.1})
    method.setup(tiny_model())
    returned = method(x)
    assert torch.allclose(returned, logits.detach(), atol=1e-6)
    adapted = method.model.bottleneck[1]
    assert torch.allclose(adapted.weight, weight - 0.1 * weight.grad, atol=1e-6)  # the first SGD step: no momentum yet
    assert torch.allclose(adapted.bias, bias - 0.1 * bias.grad, atol=1e-6)
    assert torch.equal(method.model.bottleneck[0].weight, linear.weight)  # nothing else moves


def entropy_np(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return -(p * np.log(p)).sum(1)


def test_eata_weights_confident_samples_and_then_drops_redundant_ones():
    method = STREAM_METHODS.build("eata")
    first = np.array([[4.0, 0.0, 0.0], [3.0, 0.5, 0.0], [0.2, 0.1, 0.0]])  # the third is too uncertain
    e0 = 0.4 * math.log(3)
    entropies = entropy_np(first)
    kept = entropies < e0
    assert kept.tolist() == [True, True, False]
    expected = np.mean(entropies[kept] / np.exp(entropies[kept] - e0))
    assert method.objective(torch.tensor(first)).item() == pytest.approx(expected, rel=1e-6)
    probs = torch.tensor(first).softmax(1)
    assert torch.allclose(method.average_probs, probs[:2].mean(0))
    # Now m points at class 0: a confident class-0 sample is redundant (cosine near 1), a class-1 one is not.
    second = np.array([[5.0, 0.0, 0.0], [-6.0, 6.0, -6.0]])
    average = method.average_probs.numpy()
    cosine = [float(p @ average / np.linalg.norm(p) / np.linalg.norm(average))
              for p in torch.tensor(second).softmax(1).numpy()]
    assert cosine[0] > 0.9 and abs(cosine[1]) < 0.05
    entropy = entropy_np(second)[1]
    assert method.objective(torch.tensor(second)).item() == pytest.approx(entropy / np.exp(entropy - e0), rel=1e-6)
    assert method.objective(torch.tensor([[0.1, 0.0, 0.0]])) is None  # nothing selected: no step


def test_lame_assignments_match_the_bound_iterations_by_hand():
    features = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    affinity = knn_affinity(features, knn=1)
    assert affinity.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    probs = torch.tensor([[0.8, 0.2], [0.48, 0.52], [0.3, 0.7], [0.5, 0.5]], dtype=torch.float64)
    z = probs.numpy().copy()
    for _ in range(100):  # z_i <- p_i * exp(sum_j w_ij z_j), normalised
        z = probs.numpy() * np.exp(affinity.double().numpy() @ z)
        z /= z.sum(1, keepdims=True)
    assert np.allclose(laplacian_assignments(probs, affinity.double()).numpy(), z, atol=1e-8)
    assert z.argmax(1).tolist() == [0, 0, 1, 1]  # the neighbours settle the two uncertain samples


def test_t3a_classifies_with_the_prototypes_of_its_most_confident_supports():
    model = tiny_model()
    method = STREAM_METHODS.build({"name": "t3a", "filter_k": 1})
    method.setup(model)
    x = torch.randn(6, 4)
    with torch.no_grad():
        outputs = model(x)
        weight = model.classifier.weight
        supports = torch.cat([weight, outputs.features])
        logits = torch.cat([model.classifier(weight), outputs.logits])
        labels = logits.argmax(1)
        labels[:3] = torch.arange(3)  # the classifier's rows start as their own classes' supports
        entropies = torch.tensor(entropy_np(logits.numpy()))
    prototypes = []
    for c in range(3):
        members = (labels == c).nonzero().squeeze(1)
        best = members[entropies[members].argmin()]  # filter_k = 1: the most confident support
        prototypes.append(supports[best] / supports[best].norm())
    expected = outputs.features @ torch.stack(prototypes, 1)
    assert torch.allclose(method(x), expected, atol=1e-5)
    assert len(method.supports) == 3


def test_t3a_refuses_a_head_that_is_not_linear():
    from dabench.errors import DabenchError

    backbone = nn.Identity()
    backbone.feature_dim = 4
    with pytest.raises(DabenchError, match="set model.head_width: 0"):
        STREAM_METHODS.build("t3a").setup(Model(backbone, num_classes=3, bottleneck_dim=4, head_width=8))


def test_sar_takes_the_sgd_step_with_the_gradient_at_the_sharpness_aware_point():
    x = torch.randn(8, 4)
    reference = tiny_model()
    linear, norm = reference.bottleneck[0], reference.bottleneck[1]
    h = linear(x).detach()

    def entropies(weight, bias):
        normed = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + norm.eps) * weight + bias
        p = reference.classifier(normed.relu()).softmax(1)
        return -(p * p.log()).sum(1)

    weight, bias = norm.weight.detach().clone().requires_grad_(), norm.bias.detach().clone().requires_grad_()
    margin = 10.0  # entropy_margin 10 / ln 3: every sample is kept
    first = entropies(weight, bias)
    g = torch.autograd.grad(first.mean(), (weight, bias))
    scale = 0.05 / torch.cat([t.flatten() for t in g]).norm()
    second = entropies(weight + scale * g[0], bias + scale * g[1])
    g2 = torch.autograd.grad(second.mean(), (weight, bias))
    method = STREAM_METHODS.build({"name": "sar", "lr": 0.1, "entropy_margin": margin / math.log(3),
                                   "reset_constant": 0.0})
    method.setup(tiny_model())
    method(x)
    adapted = method.model.bottleneck[1]
    assert torch.allclose(adapted.weight, weight - 0.1 * g2[0], atol=1e-6)
    assert torch.allclose(adapted.bias, bias - 0.1 * g2[1], atol=1e-6)
    assert method.loss_average == pytest.approx(second.mean().item(), rel=1e-5)


def test_sar_resets_to_the_source_when_the_loss_average_falls_below_the_constant():
    method = STREAM_METHODS.build({"name": "sar", "lr": 0.1, "entropy_margin": 10.0, "reset_constant": 100.0})
    method.setup(tiny_model())
    source = {k: v.clone() for k, v in method.state_dict().items() if isinstance(v, torch.Tensor)}
    method(torch.randn(8, 4))
    assert method.loss_average is None  # reset, and its average with it
    assert all(torch.equal(source[k], v) for k, v in method.state_dict().items() if k in source)


def test_cotta_steps_the_student_towards_the_teacher_then_moves_the_teacher_and_restores():
    x = torch.randn(8, 4)
    method = STREAM_METHODS.build({"name": "cotta", "lr": 0.01, "confidence_threshold": 0.0,
                                   "restore_probability": 0.0})
    method.setup(tiny_model())
    teacher_logits = method.teacher(x).logits.detach()
    student = method.model.classifier.weight.detach().clone()
    loss = -(teacher_logits.softmax(1) * method.model(x).logits.log_softmax(1)).sum(1).mean()
    grad = torch.autograd.grad(loss, method.model.classifier.weight)[0]
    returned = method(x)
    assert torch.allclose(returned, teacher_logits)  # confident source: the teacher's own predictions
    stepped = student - 0.01 * grad / (grad.abs() + 1e-8)  # Adam's first step
    assert torch.allclose(method.model.classifier.weight, stepped, atol=1e-6)
    teacher = method.teacher.classifier.weight
    assert torch.allclose(teacher, 0.999 * student + 0.001 * stepped, atol=1e-7)
    restoring = STREAM_METHODS.build({"name": "cotta", "confidence_threshold": 0.0, "restore_probability": 1.0})
    restoring.setup(tiny_model())
    restoring(x)
    assert torch.equal(restoring.model.classifier.weight, tiny_model().classifier.weight)  # all restored


def test_cotta_averages_the_teacher_over_augmentations_when_the_source_is_unsure():
    images = torch.randn(4, 1, 6, 6)
    backbone = nn.Flatten()
    backbone.feature_dim = 36
    method = STREAM_METHODS.build({"name": "cotta", "confidence_threshold": 1.01, "augmentations": 3})
    method.setup(Model(backbone, num_classes=3, bottleneck_dim=4))
    torch.manual_seed(0)
    logits, targets = method.teacher_predictions(images)
    torch.manual_seed(0)
    expected = torch.stack([method.teacher(augment_images(images, method.flip)).logits.softmax(1) for _ in range(3)]).mean(0)
    assert torch.allclose(targets, expected) and torch.allclose(logits.exp(), expected)
    with pytest.raises(Exception, match="set method.augmentations: 0"):
        method.teacher_predictions(torch.randn(4, 36))
