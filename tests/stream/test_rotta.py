"""RoTTA's memory bank, robust batch norm and loss against hand computations."""
import math

import torch

from dabench.stream.base import STREAM_METHODS
from dabench.stream.methods.rotta import MemoryBank, RobustBatchNorm
from stream.test_methods import by_hand, tiny_model


def test_the_memory_bank_keeps_classes_balanced_and_evicts_old_uncertain_samples_first():
    bank = MemoryBank(size=4, num_classes=3)  # room for 4/3 per class
    # (class, entropy) in arrival order; score = 1 / (1 + exp(-age / 4)) + entropy / ln 3
    for label, entropy in [(0, 0.1), (0, 0.6), (0, 0.0), (1, 0.2), (2, 0.3), (1, 0.05), (2, 1.0)]:
        bank.add(torch.tensor([float(bank.arrivals)]), label, entropy)
    # #2 finds class 0 at its share: it evicts #1 (age 1: 0.562 + 0.546 = 1.108 > its own 0.5).
    # #5 finds the bank full and class 1 below its share: it evicts the worst of the fullest class 0,
    # #0 (age 5: 0.777 + 0.091 = 0.868 > its own 0.546), not #2 (age 3: 0.679).
    # #6 (its own score 0.5 + 0.910 = 1.410) scores above every member of the fullest class 1: refused.
    assert [[int(x) for x, _, _ in entries] for entries in bank.entries] == [[2], [3, 5], [4]]
    inputs, ages = bank.contents()
    assert inputs.flatten().tolist() == [2, 3, 5, 4] and ages.tolist() == [5, 4, 2, 3]
    assert math.isclose(bank.score(5, 0.1), 1 / (1 + math.exp(-5 / 4)) + 0.1 / math.log(3))


def test_robust_batch_norm_moves_its_statistics_towards_each_training_batch():
    norm = tiny_model().bottleneck[1]
    robust = RobustBatchNorm(norm, momentum=0.05)
    x = torch.randn(6, 4)
    mean = 0.95 * norm.running_mean + 0.05 * x.mean(0)
    var = 0.95 * norm.running_var + 0.05 * x.var(0, unbiased=False)
    expected = (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
    assert torch.allclose(robust.train()(x), expected, atol=1e-6)
    assert torch.allclose(robust.mean, mean) and torch.allclose(robust.var, var)
    stored = (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
    assert torch.allclose(robust.eval()(x), stored, atol=1e-6)  # prediction: the statistics as they are
    assert torch.allclose(robust.mean, mean)


def test_rotta_predicts_with_the_teacher_and_weights_the_bank_by_timeliness():
    method = STREAM_METHODS.build({"name": "rotta", "memory_size": 4, "update_every": 100, "augment": False})
    method.setup(tiny_model())
    x = torch.randn(3, 4)
    source = tiny_model()
    with torch.no_grad():
        assert torch.allclose(method(x), source(x).logits, atol=1e-6)  # the teacher, source statistics
    norm = source.bottleneck[1]
    with torch.no_grad():
        h = source.bottleneck[0](x)  # the bank holds the three samples (ages 3, 2, 1), in class order
        inputs, ages = method.memory.contents()
        order = [torch.nonzero((x == row).all(1)).item() for row in inputs]
        mean = 0.95 * norm.running_mean + 0.05 * h.mean(0)
        var = 0.95 * norm.running_var + 0.05 * h.var(0, unbiased=False)
        p = by_hand(source, x, mean, var).softmax(1)[order]
    weights = torch.exp(-ages / 4) / (1 + torch.exp(-ages / 4))
    expected = (weights * -(p * p.log()).sum(1)).mean()  # teacher = student before any step: the entropy
    assert sorted(ages.tolist()) == [1, 2, 3]
    assert torch.allclose(method.memory_loss(), expected, atol=1e-6)
