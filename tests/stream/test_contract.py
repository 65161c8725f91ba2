"""Every registered test-time method, for free: finite logits for each arriving batch, a `predict` that leaves no
trace, a `reset` back to the exact source state, and a state_dict that carries everything it keeps."""
import copy

import pytest
import torch

from dabench.stream.base import STREAM_METHODS
from stream.test_methods import tiny_image_model, tiny_model

# Feature inputs are not images: CoTTA runs here without its augmentation-averaged teacher. A random model's
# predictions are too uncertain for EATA's, SAR's and DeYO's filters: their margins are widened so that they step.
# RoTTA's bank and update interval shrink to one batch; MEMO gets two views an input.
SPECS = {"cotta": {"name": "cotta", "augmentations": 0}, "eata": {"name": "eata", "entropy_margin": 10.0},
         "sar": {"name": "sar", "entropy_margin": 10.0, "reset_constant": 0.0},
         "deyo": {"name": "deyo", "entropy_margin": 10.0, "plpd_threshold": -1.0},
         "rotta": {"name": "rotta", "memory_size": 8, "update_every": 8}, "memo": {"name": "memo", "augmentations": 2}}
IMAGES = ("deyo", "memo", "rotta")  # they augment or shuffle their inputs as images


def tensors(method) -> dict:
    return {k: v.clone() for k, v in method.state_dict().items() if isinstance(v, torch.Tensor)}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", STREAM_METHODS.names())
def test_a_stream_method_answers_forgets_resets_and_resumes(name):
    torch.manual_seed(0)
    method = STREAM_METHODS.build(SPECS.get(name, name))
    model, shape = (tiny_image_model, (8, 3, 8, 8)) if name in IMAGES else (tiny_model, (8, 4))
    method.setup(model())
    source = tensors(method)
    batches = [torch.rand(shape) for _ in range(3)]
    logits = method(batches[0])
    assert logits.shape == (8, 3) and torch.isfinite(logits).all() and not logits.requires_grad
    state = copy.deepcopy(method.state_dict())  # what a checkpoint file holds
    assert not same(tensors(method), source) or name in ("source", "bn_adapt", "lame", "t3a", "memo")  # those keep none
    before = tensors(method)
    method.predict(batches[1])
    assert same(tensors(method), before)  # the second pass keeps nothing
    torch.manual_seed(1)
    expected = [method(b) for b in batches[1:]]
    resumed = STREAM_METHODS.build(SPECS.get(name, name))
    resumed.setup(model())
    resumed.load_state_dict(state)
    torch.manual_seed(1)
    assert all(torch.equal(resumed(b), e) for b, e in zip(batches[1:], expected))  # a checkpoint resumes exactly
    method.reset()
    assert same(tensors(method), source)
