"""The training step reads no tensor value on the host (the trainer's `step_guard` spans a step's work between
log steps). On a GPU such a read waits for the device; benchmarks/gpu_speed.py checks the real thing under
torch.cuda.set_sync_debug_mode, and this CPU test checks dabench's own code for every method: inside steps 3-6,
no call from dabench's files to .item(), .tolist(), .cpu(), .numpy(), .nonzero(), bool(), int() or float() of a
tensor, nor indexing by a boolean mask."""
from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
import torch

import dabench
from dabench.config_files import merge
from dabench.log import Loggers
from dabench.methods.base import METHODS
from dabench.testing import build_toy, folder_config, make_folder_domains, method_sections, toy_config

PACKAGE = str(Path(dabench.__file__).parent)
READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__", "nonzero", "__getitem__")


def reads_on_the_host(name: str, args: tuple) -> bool:
    """Indexing reads the host only with a boolean mask (its result's size is the mask's count)."""
    if name != "__getitem__":
        return True
    index = args[0] if args else None
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool
               for i in (index if isinstance(index, tuple) else (index,)))
IMAGES_ONLY = {"fixmatch"}  # it augments images and refuses the toy vectors


@contextlib.contextmanager
def host_reads_recorded(reads: list[str], monkeypatch):
    """Record 'file:line method' for each host read of a tensor called from dabench's own files."""
    with monkeypatch.context() as patch:
        for name in READS:
            original = getattr(torch.Tensor, name)

            def recorded(tensor, *args, _original=original, _name=name, **kwargs):
                import sys

                caller = sys._getframe(1)
                if caller.f_code.co_filename.startswith(PACKAGE) and reads_on_the_host(_name, args):
                    reads.append(f"{Path(caller.f_code.co_filename).name}:{caller.f_lineno} {_name}")
                return _original(tensor, *args, **kwargs)

            patch.setattr(torch.Tensor, name, recorded)
        yield


@pytest.mark.parametrize("name", [name for name in METHODS.names() if name not in IMAGES_ONLY
                                  and not METHODS.get(name).fitted_in_begin])
def test_a_training_step_reads_nothing_on_the_host(name, tmp_path, monkeypatch):
    sections = method_sections(name, sources=["a", "c"], known_classes=[0, 1])
    assert_reads_nothing(toy_config(**sections, trainer={"steps": 6, "log_every": 6, "eval_every": 6}), tmp_path,
                         monkeypatch)


@pytest.mark.parametrize("name", sorted(IMAGES_ONLY))
def test_a_training_step_on_images_decoded_once_reads_nothing_on_the_host(name, tmp_path, monkeypatch):
    cfg = folder_config(make_folder_domains(tmp_path / "domains"), method=name)
    cfg = merge(cfg, {"dataset": {"decode": "once"}})  # the GPU path (per_batch indexes files by CPU indices, by design)
    assert_reads_nothing(cfg, tmp_path / "run", monkeypatch)


def assert_reads_nothing(cfg: dict, run_dir: Path, monkeypatch) -> None:
    """Train `cfg` for its 6 steps, recording host reads in steps 3-6; assert there were none."""
    trainer, method, data = build_toy(cfg)
    reads, steps = [], itertools.count()
    trainer.step_guard = lambda: host_reads_recorded(reads, monkeypatch) if next(steps) >= 2 else \
        contextlib.nullcontext()
    trainer.fit(method, data, run_dir, Loggers(), seed=0)
    assert next(steps) == 6 and reads == []


def test_the_recorder_sees_a_host_read_from_dabenchs_files(monkeypatch):
    reads = []
    with host_reads_recorded(reads, monkeypatch):
        exec(compile("x = torch.ones(3)\nx.item() if False else x[0].item()\nx[x > 0]\nx[:2]\nx[torch.tensor([0, 2])]",
                     f"{PACKAGE}/probe.py", "exec"), {"torch": torch})
    assert reads == ["probe.py:2 item", "probe.py:3 __getitem__"]  # slices and integer indices read nothing
