import torch

from dabench.log import Loggers
from dabench.testing import build_toy, toy_config


def test_only_the_target_encoder_and_discriminator_learn(tmp_path):
    trainer, method, data = build_toy(toy_config({"name": "adda", "hidden": 16}))
    source_encoder = {k: v.clone() for k, v in method.source_encoder.state_dict().items()}
    before = {k: v.clone() for k, v in method.state_dict().items()}
    # stage 2 starts from the source model: the target encoder is a copy of the source encoder
    assert torch.equal(method.model.backbone[1].weight, method.source_encoder[0][1].weight)
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    after = method.state_dict()
    assert all(torch.equal(source_encoder[k], v) for k, v in method.source_encoder.state_dict().items())
    assert torch.equal(before["model.classifier.weight"], after["model.classifier.weight"])
    assert not torch.equal(before["model.backbone.1.weight"], after["model.backbone.1.weight"])
    assert not torch.equal(before["discriminator.net.0.weight"], after["discriminator.net.0.weight"])


def test_encoder_step_uses_inverted_labels(tmp_path):
    _, method, data = build_toy(toy_config({"name": "adda", "hidden": 16}))
    method.eval()
    s = type("B", (), {"x": data.source_train.x[:8]})()
    t = type("B", (), {"x": data.target_train[:8]})()
    steps = method.updates(s, t, 0.5)
    name, terms = next(steps)
    assert name == "discriminator" and set(terms) == {"disc"}
    name, terms = next(steps)
    logits = method.discriminator(method.model.features(t.x))
    expected = torch.nn.functional.softplus(-logits).mean()  # BCE(logits, 1) = log(1 + e^-z)
    assert name == "encoder" and torch.isclose(terms["adv"], expected)
