import numpy as np
import torch

from dabench.data.augment import strong_augment, weak_augment
from dabench.losses.target import confident_pseudo_label_loss
from methods.reference import softmax


def test_loss_keeps_only_confident_weak_predictions():
    weak = torch.tensor([[5.0, 0, 0], [0.1, 0, 0], [0, 0, 6.0]], dtype=torch.float64)
    strong = torch.randn(3, 3, dtype=torch.float64)
    p = softmax(weak.numpy())
    mask = p.max(1) >= 0.95
    log_q = np.log(softmax(strong.numpy()))
    expected = (-log_q[range(3), p.argmax(1)] * mask).mean()
    loss, rate = confident_pseudo_label_loss(weak, strong, 0.95)
    assert np.isclose(loss.item(), expected) and np.isclose(rate.item(), 2 / 3)


def test_augmentations_are_per_sample_keep_the_range_and_follow_the_seed():
    images = torch.rand(4, 1, 16, 16) * 2 - 1
    torch.manual_seed(0)
    weak, strong = weak_augment(images), strong_augment(images)
    assert weak.shape == strong.shape == images.shape
    assert weak.min() >= -1 and weak.max() <= 1 and strong.min() >= -1 and strong.max() <= 1
    assert not torch.equal(strong, images)
    shifts = [(weak[i] - images[i]).abs().sum() for i in range(4)]
    assert len({round(float(s), 3) for s in shifts}) > 1  # different random parameters per sample
    torch.manual_seed(0)
    assert torch.equal(weak_augment(images), weak) and torch.equal(strong_augment(images), strong)


def test_vector_inputs_are_refused_with_a_clear_message():
    import pytest

    from dabench.errors import DabenchError
    from dabench.methods.base import METHODS

    with pytest.raises(DabenchError, match="fixmatch augments images"):
        METHODS.build("fixmatch").begin(None, torch.zeros(5, 800))


def test_a_magnitude_outside_randaugments_scale_is_refused():
    import pytest

    from dabench.errors import DabenchError
    from dabench.methods.base import METHODS

    with pytest.raises(DabenchError, match="magnitude 31 is outside RandAugment's scale; give 0 to 30"):
        METHODS.build({"name": "fixmatch", "magnitude": 31})
