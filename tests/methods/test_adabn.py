import torch

from dabench.log import Loggers
from dabench.testing import build_toy, toy_config


def test_adabn_trains_no_weight_and_sets_bn_statistics_to_the_target_average(tmp_path):
    cfg = toy_config("adabn", trainer={"steps": 4, "eval_every": 4, "batch_size": 300})
    trainer, method, data = build_toy(cfg)
    before = {k: v.clone() for k, v in method.named_parameters()}
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert all(torch.equal(before[k], v) for k, v in method.named_parameters())
    # batch_size 300 = the whole target set, so every batch has the same statistics
    norm = method.model.bottleneck[1]
    with torch.no_grad():
        pre_norm = method.model.bottleneck[0](method.model.backbone(data.target_train))
    assert torch.allclose(norm.running_mean, pre_norm.mean(0), atol=1e-5)
    assert torch.allclose(norm.running_var, pre_norm.var(0), rtol=1e-4)
    assert norm.num_batches_tracked.item() == 4


def test_statistics_are_the_cumulative_average_of_the_target_batches(tmp_path):
    from dabench.types import Batch

    trainer, method, data = build_toy(toy_config("adabn", trainer={"steps": 4, "eval_every": 4}))
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)  # the source model, then reset statistics
    norm = method.model.bottleneck[1]
    norm.reset_running_stats()
    batches = [data.target_train[i * 25:(i + 1) * 25] for i in range(4)]
    for step, x in enumerate(batches):
        method.loss(None, Batch(x, None, torch.arange(25)), progress=step / 4)
    with torch.no_grad():
        means = [method.model.bottleneck[0](method.model.backbone(x)).mean(0) for x in batches]
    assert norm.momentum == 1 / 4
    assert torch.allclose(norm.running_mean, torch.stack(means).mean(0), atol=1e-6)
