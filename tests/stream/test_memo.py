"""MEMO's marginal entropy and its one-input-at-a-time step against hand computations."""
import copy

import numpy as np
import torch

from dabench.stream.base import STREAM_METHODS
from dabench.stream.methods.memo import marginal_entropy
from stream.test_methods import tiny_image_model


def test_marginal_entropy_is_the_entropy_of_the_mean_softmax():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    marginal = p.mean(0)
    assert np.isclose(marginal_entropy(torch.tensor(logits)).item(), -(marginal * np.log(marginal)).sum())


def test_memo_answers_each_input_after_one_step_on_its_own_views_then_resets():
    images = torch.rand(2, 3, 8, 8)
    method = STREAM_METHODS.build({"name": "memo", "lr": 0.5, "augmentations": 4})
    method.setup(tiny_image_model())
    torch.manual_seed(0)
    returned = method(images)
    reference = STREAM_METHODS.build({"name": "bn_adapt", "source_weight": 16 / 17})  # MEMO's normalisation
    reference.setup(tiny_image_model())
    torch.manual_seed(0)  # the same views
    expected = []
    for image in images:
        model = copy.deepcopy(reference)
        loss = marginal_entropy(model.model(method.views(image)).logits)
        params = list(model.model.parameters())
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(params, grads):
                if g is not None:
                    p -= 0.5 * g
            expected.append(model(image[None])[0])
    assert torch.allclose(returned, torch.stack(expected), atol=1e-5)
    unstepped = torch.cat([reference(image[None]) for image in images])
    assert (returned - unstepped).abs().max() > 1e-4  # the step changed the answers
    source = tiny_image_model().state_dict()
    assert all(torch.equal(method.model.state_dict()[k], v) for k, v in source.items()
               if not k.endswith(("running_mean", "running_var")))  # back to the source weights
