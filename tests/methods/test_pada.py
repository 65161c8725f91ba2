import numpy as np
import torch
import torch.nn.functional as F

from dabench.log import Loggers
from dabench.testing import build_toy, toy_config
from dabench.types import Batch


def test_class_weight_is_the_mean_target_prediction_over_its_largest_entry():
    _, method, data = build_toy(toy_config("pada"))
    method.begin(data.source_train, data.target_inputs)
    method.refresh_class_weight()
    method.eval()
    with torch.no_grad():
        probs = method.model(data.target_train).logits.softmax(1).numpy()
    mean = probs.mean(0)
    assert np.allclose(method.class_weight.numpy(), mean / mean.max(), atol=1e-6)


def test_losses_weight_source_samples_by_their_class_weight():
    _, method, data = build_toy(toy_config({"name": "pada", "refresh_every": 1000}))
    method.begin(data.source_train, data.target_inputs)
    method.class_weight = torch.tensor([1.0, 0.5, 0.0])
    x_s, y_s, x_t = data.source_train.x[:6], data.source_train.y[:6], data.target_train[:6]
    torch.manual_seed(0)
    terms = method.loss(Batch(x_s, y_s, torch.arange(6)), Batch(x_t, None, torch.arange(6)), progress=0.5)
    torch.manual_seed(0)  # the same dropout draws
    out_s, out_t = method.forward_pair(x_s, x_t)
    weight = torch.tensor([1.0, 0.5, 0.0])[y_s]
    expected_cls = (F.cross_entropy(out_s.logits, y_s, reduction="none") * weight).sum() / 6
    term = method.alignment["adv"]
    logits = term.discriminator(torch.cat([out_s.features, out_t.features]))
    targets = torch.cat([torch.ones(6), torch.zeros(6)])
    bce = F.binary_cross_entropy_with_logits(logits.squeeze(1), targets, reduction="none")
    expected_adv = (bce * torch.cat([weight, torch.ones(6)])).mean()
    assert torch.allclose(terms["cls"], expected_cls, atol=1e-6)
    assert torch.allclose(terms["adv"], expected_adv, atol=1e-6)


def test_weights_refresh_on_schedule_and_fall_for_the_classes_missing_from_the_target(tmp_path):
    cfg = toy_config({"name": "pada", "refresh_every": 20}, target_classes=[0, 1],
                     dataset={"name": "toy", "shift": 0.5}, trainer={"steps": 100, "eval_every": 100})
    trainer, method, data = build_toy(cfg)
    refreshes = []
    original = method.refresh_class_weight
    method.refresh_class_weight = lambda: (refreshes.append(round(method.refreshed_at.item())), original())
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert len(refreshes) == 4  # at steps 20, 40, 60 and 80
    weight = method.class_weight
    assert weight.max() == 1.0 and weight[2] < weight[:2].min()  # the absent class weighs least
