import numpy as np
import torch

from dabench.log import Loggers
from dabench.losses.target import classifier_discrepancy
from dabench.methods.base import METHODS
from dabench.models.model import build_model
from dabench.testing import build_toy, toy_config
from methods.reference import softmax


def test_discrepancy_is_the_mean_absolute_softmax_difference():
    a, b = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    expected = np.abs(softmax(a.numpy()) - softmax(b.numpy())).mean()
    assert np.isclose(classifier_discrepancy(a, b).item(), expected)


def test_each_of_the_three_steps_updates_only_its_own_parameters(tmp_path):
    trainer, method, data = build_toy(toy_config({"name": "mcd", "num_k": 2}, trainer={"steps": 1, "eval_every": 1}))
    parts = {"generator": ("model.backbone", "model.bottleneck"), "f1": ("model.classifier",), "f2": ("classifier_2",)}

    def snapshot():
        return {k: v.detach().clone() for k, v in method.named_parameters()}

    def changed(before, after):
        return {part for part, prefixes in parts.items()
                if any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefixes))}

    phases, snapshots = [], []
    original = method.updates

    def spy(*args):
        for name, terms in original(*args):
            phases.append(name)
            snapshots.append(snapshot())
            yield name, terms
        snapshots.append(snapshot())

    method.updates = spy
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert phases == ["all", "classifiers", "generator", "generator"]
    updated = [changed(snapshots[i], snapshots[i + 1]) for i in range(len(phases))]
    assert updated == [{"generator", "f1", "f2"}, {"f1", "f2"}, {"generator"}, {"generator"}]


def test_second_classifier_copies_the_first_ones_architecture_with_fresh_weights():
    model = build_model("lenet", (1, 28, 28), num_classes=10, bottleneck_dim=16, head_width=8)
    method = METHODS.build("mcd")
    method.build(model, num_classes=10, steps=10)
    first, second = model.classifier, method.classifier_2
    assert [type(m) for m in second] == [type(m) for m in first]
    assert not torch.equal(first[0].weight, second[0].weight)
