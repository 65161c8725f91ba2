"""The trainer's GPU speed switches (compile, channels_last, fused optimizer, TF32, cuDNN benchmark), run on the CPU:
each changes how a step is computed, never what it computes beyond float rounding, and none touches the hash at
its default."""
from __future__ import annotations

import pytest
import torch

from dabench.config import config_hash
from dabench.config_files import merge
from dabench.log import Loggers
from dabench.run import train
from dabench.testing import build_toy, folder_config, make_folder_domains, toy_config


def losses(result: dict) -> list[float]:
    return [record["loss/total"] for record in result["records"]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder_domains(tmp_path_factory.mktemp("domains"))


def conv_config(folder, **trainer):
    cfg = folder_config(folder, method="dann", steps=6)
    return merge(cfg, {"trainer": trainer})


def test_switches_default_off_on_the_cpu_and_on_with_cuda():
    trainer, _, _ = build_toy(toy_config())
    assert (trainer.compile, trainer.channels_last, trainer.fused_optimizer, trainer.tf32,
            trainer.cudnn_benchmark) == (False, False, False, False, False)
    assert config_hash(toy_config()) == config_hash(toy_config(trainer={"channels_last": None, "compile": False}))
    assert config_hash(toy_config()) != config_hash(toy_config(trainer={"channels_last": True}))


def test_channels_last_keeps_the_result_up_to_rounding(folder, tmp_path):
    plain = train(conv_config(folder), tmp_path / "plain")
    fast = train(conv_config(folder, channels_last=True), tmp_path / "fast")
    assert losses(fast) == pytest.approx(losses(plain), rel=1e-3)  # rounding, grown over 6 steps


def test_channels_last_formats_weights_and_input_batches(folder):
    trainer, method, data = build_toy(conv_config(folder, channels_last=True))
    trainer.prepare(method.to("cpu"))
    conv = next(module for module in method.modules() if isinstance(module, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    from dabench.data.loaders import InfiniteBatches

    batch = trainer.formatted(InfiniteBatches(data.target_train, None, 4, 0).batch(0))
    assert batch.x.is_contiguous(memory_format=torch.channels_last) and not batch.x.is_contiguous()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_fused_optimizer_takes_the_same_steps(optimizer, tmp_path):
    plain = train(toy_config("dann", optim={"optimizer": optimizer}), tmp_path / "plain")
    fused = train(toy_config("dann", optim={"optimizer": optimizer}, trainer={"fused_optimizer": True}),
                  tmp_path / "fused")
    assert losses(fused) == pytest.approx(losses(plain), rel=1e-5)


def test_compile_compiles_in_place_so_checkpoints_keep_their_keys(monkeypatch, tmp_path):
    """The eager backend: dynamo traces the module for real, without the C++ toolchain inductor needs."""
    compiled = []
    original = torch.nn.Module.compile

    def compile_eagerly(module, **kwargs):
        compiled.append(type(module).__name__)
        original(module, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eagerly)
    for choice, expected in ((True, "FeatureExtractor"), ("model", "Model")):
        trainer, method, data = build_toy(toy_config("dann", trainer={"compile": choice, "steps": 4}))
        keys = set(method.state_dict())
        fit = trainer.fit(method, data, tmp_path / str(choice), Loggers(), seed=0)
        assert compiled[-1] == expected and set(method.state_dict()) == keys
        assert all(torch.isfinite(torch.tensor(record["loss/total"])) for record in fit.records)
    plain = train(toy_config("dann", trainer={"steps": 4}), tmp_path / "plain")
    again = train(toy_config("dann", trainer={"steps": 4, "compile": "model"}), tmp_path / "again")
    assert losses(again) == pytest.approx(losses(plain), rel=1e-5)
