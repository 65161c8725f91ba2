"""DeYO's patch shuffle, PLPD filter and weighted entropy step against hand computations."""
import copy

import pytest
import torch

from dabench.stream.base import STREAM_METHODS, train_batch_norm_affine, use_batch_statistics
from dabench.stream.methods.deyo import shuffle_patches
from stream.test_methods import tiny_image_model


def test_a_patch_shuffle_permutes_each_images_tiles():
    x = torch.arange(2 * 2 * 4 * 4, dtype=torch.float32).reshape(2, 2, 4, 4)
    torch.manual_seed(0)
    shuffled = shuffle_patches(x, 2)
    tiles = lambda t: sorted(tuple(t[:, i:i + 2, j:j + 2].flatten().tolist()) for i in (0, 2) for j in (0, 2))  # noqa: E731
    assert all(tiles(a) == tiles(b) for a, b in zip(shuffled, x)) and not torch.equal(shuffled, x)


def test_deyo_steps_on_confident_shape_dependent_samples_weighted_by_entropy_and_plpd():
    x = torch.rand(8, 3, 8, 8)
    model = copy.deepcopy(tiny_image_model())
    use_batch_statistics(model)
    params = train_batch_norm_affine(model)
    logits = model(x).logits
    entropies = -(logits.softmax(1) * logits.log_softmax(1)).sum(1)
    torch.manual_seed(0)
    with torch.no_grad():
        destroyed = model(shuffle_patches(x, 4)).logits.softmax(1)  # every sample passes the entropy margin of 10
    labels = logits.argmax(1)
    plpd = logits.softmax(1)[range(8), labels] - destroyed[range(8), labels]
    threshold = plpd.median().item()
    keep = plpd > threshold
    e0 = 0.4 * torch.log(torch.tensor(3.0))
    weights = torch.exp(-(entropies[keep].detach() - e0)) + torch.exp(plpd[keep].detach())
    grads = torch.autograd.grad((entropies[keep] * weights).mean(), params)
    method = STREAM_METHODS.build({"name": "deyo", "lr": 0.1, "entropy_margin": 10.0, "plpd_threshold": threshold})
    method.setup(tiny_image_model())
    torch.manual_seed(0)
    returned = method(x)
    assert 0 < keep.sum() < 8 and torch.allclose(returned, logits.detach(), atol=1e-6)
    adapted = method.model.bottleneck[1]
    assert torch.allclose(adapted.weight, params[0] - 0.1 * grads[0], atol=1e-6)  # first SGD step: no momentum
    assert torch.allclose(adapted.bias, params[1] - 0.1 * grads[1], atol=1e-6)


def test_deyo_refuses_inputs_that_are_not_images():
    method = STREAM_METHODS.build("deyo")
    method.setup(tiny_image_model())
    with pytest.raises(Exception, match="DeYO shuffles image patches"):
        method(torch.randn(4, 4))
