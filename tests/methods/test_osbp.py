import math

import torch

from dabench.log import Loggers
from dabench.methods.osbp import unknown_bce
from dabench.testing import build_toy, toy_config
from dabench.types import Batch


def test_unknown_bce_by_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, math.log(2.0)]])  # p(unknown) = 1/3, 2/5
    expected = -(0.5 * math.log(1 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2 / 5) + 0.5 * math.log(3 / 5)) / 2
    assert abs(unknown_bce(logits, 0.5).item() - expected) < 1e-6
    assert abs(unknown_bce(logits, 0.2).item() + (0.2 * math.log(1 / 3) + 0.8 * math.log(2 / 3)
                                                  + 0.2 * math.log(2 / 5) + 0.8 * math.log(3 / 5)) / 2) < 1e-6


def test_the_classifier_gets_an_unknown_output_and_keeps_its_architecture():
    _, method, data = build_toy(toy_config("osbp", source_classes=[0, 1], model={"head_width": 12}))
    linears = [m for m in method.model.classifier.modules() if isinstance(m, torch.nn.Linear)]
    assert data.num_classes == 2 and [(m.in_features, m.out_features) for m in linears] == [(8, 12), (12, 3)]


def test_the_generator_gets_the_reversed_gradient_of_the_unknown_loss_and_the_classifier_the_plain_one():
    _, method, data = build_toy(toy_config({"name": "osbp", "trade_off": 0.7}, source_classes=[0, 1]))
    method.eval()  # no dropout or batch statistics: the two passes below see the same function
    s = Batch(data.source_train.x[:8], data.source_train.y[:8], torch.arange(8))
    t = Batch(data.target_train[:8], None, torch.arange(8))
    generator, classifier = method.model.bottleneck[0].weight, method.model.classifier.weight

    def grads(loss):
        return torch.autograd.grad(loss, [generator, classifier])

    adv = grads(method.loss(s, t, progress=0.5)["adv"])
    plain = grads(0.7 * unknown_bce(method.model(t.x).logits, 0.5))
    assert torch.allclose(adv[0], -plain[0], atol=1e-6) and torch.allclose(adv[1], plain[1], atol=1e-6)


def test_training_rejects_the_target_private_classes(tmp_path):
    cfg = toy_config("osbp", source_classes=[0, 1], dataset={"name": "toy", "shift": 0.5},
                     trainer={"steps": 60, "eval_every": 60})
    trainer, method, data = build_toy(cfg)
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    method.eval()
    with torch.no_grad():
        p_unknown = method.predict(data.target_test.x).softmax(1)[:, -1]
    unknown = data.target_test.y == data.unknown_label
    assert p_unknown[unknown].mean() > p_unknown[~unknown].mean() + 0.15
