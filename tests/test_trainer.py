import math

import pytest
import torch
import torch.nn.functional as F

from dabench.io import load_checkpoint
from dabench.log import Loggers
from dabench.provenance import device_name
from dabench.testing import build_toy, toy_config
from dabench.trainer import inv_factor


def test_source_only_equals_a_hand_written_loop(tmp_path):
    cfg = toy_config("source_only", trainer={"steps": 5, "eval_every": 5, "batch_size": 16},
                     optim={"lr": 0.05, "backbone_lr_mult": 0.5})
    trainer, method, data = build_toy(cfg)
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)

    _, reference, _ = build_toy(cfg)  # same seed: same initial weights
    model = reference.model
    groups = [{"params": list(model.backbone.parameters()), "mult": 0.5},
              {"params": [*model.bottleneck.parameters(), *model.classifier.parameters()], "mult": 1.0}]
    opt = torch.optim.SGD(groups, lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    x, y = data.source_train.x, data.source_train.y
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))  # epoch 0 of seed 0
    for step in range(5):
        for group in opt.param_groups:
            group["lr"] = 0.05 * (1 + 10 * step / 5) ** -0.75 * group["mult"]
        idx = order[step * 16:(step + 1) * 16]
        loss = F.cross_entropy(model(x[idx]).logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for (name, a), b in zip(method.model.state_dict().items(), model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


class CrashAt:
    """A logger that raises at a given step, as a kill would."""

    def __init__(self, step):
        self.step = step

    def log(self, step, metrics):
        if step >= self.step:
            raise KeyboardInterrupt

    def finish(self):
        pass


@pytest.mark.parametrize("method", ["dann", "source_only", "shot", "pada"])  # SHOT and PADA refresh periodically
def test_resumed_run_equals_uninterrupted_bit_for_bit(method, tmp_path):
    cfg = toy_config(method, trainer={"steps": 30, "eval_every": 10, "log_every": 3})
    trainer, full, data = build_toy(cfg)
    records_full = trainer.fit(full, data, tmp_path / "full", Loggers(), seed=0).records

    trainer, crashed, data = build_toy(cfg)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(crashed, data, tmp_path / "crash", CrashAt(16), seed=0)
    state = load_checkpoint(tmp_path / "crash" / "checkpoint.pt")
    assert state["step"] == 10

    trainer, resumed, data = build_toy(cfg)
    records_resumed = trainer.fit(resumed, data, tmp_path / "crash", Loggers(), seed=0, resume_state=state).records
    assert records_resumed == records_full
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_lr_schedules():
    assert inv_factor(0.0) == 1.0
    assert inv_factor(1.0) == pytest.approx(11 ** -0.75)


@pytest.mark.parametrize("optim, expected_lr", [
    ({"optimizer": "sgd", "schedule": "inv"}, lambda step: 0.1 * inv_factor(step / 8)),
    ({"optimizer": "adamw", "schedule": "cosine"}, lambda step: 0.05 * (1 + math.cos(math.pi * step / 8))),
    ({"optimizer": "adam", "schedule": "step", "step_size": 3, "step_gamma": 0.5}, lambda step: 0.1 * 0.5 ** (step // 3)),
    ({"optimizer": "sgd", "schedule": "constant"}, lambda step: 0.1),
])
def test_torch_optimizers_and_schedules_resume_bit_identically(optim, expected_lr, tmp_path):
    cfg = toy_config("dann", trainer={"steps": 8, "eval_every": 4, "log_every": 1}, optim={"lr": 0.1, **optim})
    trainer, method, data = build_toy(cfg)
    lrs = []
    full = trainer.fit(method, data, tmp_path / "full", _LrSpy(lrs), seed=0).records
    assert lrs == pytest.approx([expected_lr(step) for step in range(8)], rel=1e-6)
    trainer, crashed, data = build_toy(cfg)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(crashed, data, tmp_path / "crash", CrashAt(6), seed=0)
    state = load_checkpoint(tmp_path / "crash" / "checkpoint.pt")
    trainer, resumed, data = build_toy(cfg)
    assert trainer.fit(resumed, data, tmp_path / "crash", Loggers(), seed=0, resume_state=state).records == full
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optim["optimizer"]]
    assert isinstance(_optimizer_of(cfg), optimizer)


class _LrSpy:
    """Records the lr logged at every step (log_every=1)."""

    def __init__(self, lrs):
        self.lrs = lrs

    def log(self, step, metrics):
        if "source_val_acc" not in metrics:
            self.lrs.append(metrics["lr"])

    def finish(self):
        pass


def _optimizer_of(cfg):
    from dabench.schema import Optim
    from dabench.trainer import make_optimizer

    _, method, _ = build_toy(cfg)
    return make_optimizer(method.optimizers(1.0)["main"], Optim(**cfg["optim"]))


def test_records_hold_losses_and_accuracies(tmp_path):
    trainer, method, data = build_toy(toy_config("dann", trainer={"steps": 20, "eval_every": 10}))
    records = trainer.fit(method, data, tmp_path, Loggers(), seed=0).records
    assert [r["step"] for r in records] == [10, 20]
    assert {"loss/cls", "loss/adv", "loss/total", "source_val_acc", "source_val_loss", "target_test_acc",
            "score/entropy", "score/im", "score/bnm", "score/snd", "score/dev", "score/iwcv", "lr"} <= set(records[-1])


def test_mean_class_accuracy_is_the_mean_of_per_class_accuracies():
    from dabench.evaluate import accuracy

    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 0, 0, 1, 0, 1]), 2).float()
    assert accuracy(logits, labels) == pytest.approx(100 * 4 / 6)
    assert accuracy(logits, labels, "mean_class_accuracy") == pytest.approx(100 * (3 / 4 + 1 / 2) / 2)


def test_cpu_device_name_records_the_instruction_set_and_thread_count():
    """Runs agree bit for bit only on the same kernels; the row must say which ones ran."""
    name = device_name(torch.device("cpu"))
    assert torch.backends.cpu.get_cpu_capability() in name and f"{torch.get_num_threads()} threads" in name


def test_a_numbered_cuda_device_becomes_the_current_one_and_a_missing_one_is_named(monkeypatch):
    import pytest
    import torch

    from dabench.errors import DabenchError
    from dabench.trainer import resolve_device

    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    assert resolve_device("cuda:1") == torch.device("cuda:1") and current == [torch.device("cuda:1")]
    assert resolve_device("cuda") == torch.device("cuda") and len(current) == 1  # no index: the current one stays
    with pytest.raises(DabenchError, match=r"trainer.device=cuda:2 but this machine has 2 CUDA device\(s\), cuda:0..cuda:1"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("transductive", [False, True])
def test_a_target_cap_gives_validators_a_fixed_subset_and_leaves_the_target_accuracy_whole(transductive,
                                                                                            monkeypatch):
    import dabench.evaluate
    from dabench.data.loaders import LabeledSplit

    _, method, data = build_toy(toy_config("source_only"))
    if transductive:  # the target's train inputs are its test inputs (as on the SURF and Amazon datasets)
        data.target_test = LabeledSplit(data.target_train, torch.arange(len(data.target_train)) % 3)
        data.target_test_is_train = True
    seen = []
    score_all = dabench.evaluate.score_all
    monkeypatch.setattr(dabench.evaluate, "score_all", lambda splits: seen.append(splits["target"]) or
                        score_all(splits))
    whole = dabench.evaluate.evaluate(method, data, 64, torch.autocast("cpu", enabled=False))
    capped = dabench.evaluate.evaluate(method, data, 64, torch.autocast("cpu", enabled=False), target_samples=50)
    dabench.evaluate.evaluate(method, data, 64, torch.autocast("cpu", enabled=False), target_samples=50)
    assert len(seen[0].logits) == len(data.target_train) == 300 and len(seen[1].logits) == 50
    assert torch.equal(seen[1].logits, seen[2].logits)  # the same samples at every evaluation
    assert torch.equal(seen[1].logits, seen[0].logits[dabench.evaluate.subset(300, 50)])
    assert capped["target_test_acc"] == whole["target_test_acc"]
    assert capped["score/entropy"] != whole["score/entropy"]


def test_the_target_cap_is_recorded_and_hashed_only_when_set():
    from dabench.config import config_hash

    assert toy_config("source_only")["trainer"]["eval_target_samples"] is None
    capped = toy_config("source_only", trainer={"eval_target_samples": 100})
    assert config_hash(capped) != config_hash(toy_config("source_only"))
