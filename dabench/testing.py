"""Helpers for testing methods, here and in users' packages.

``toy_config()`` is a complete run config on the ``toy`` dataset (seconds on a CPU);
``outputs()`` gives fixed random Outputs for loss tests; ``build_toy()`` builds the
trainer, the method with its model, and the data, ready for ``trainer.fit``;
``make_folder_domains()`` writes a tiny image dataset in the ``folder`` layout and
``folder_config()`` a run config on it; ``make_audio_folder_domains()`` writes tone clips in the
``audio_folder`` layout; ``toy_benchmark()`` runs a small benchmark file on toy; ``cli_process()`` starts a
``dabench`` command in a fresh process, to kill or to run beside another. ``PoisonedLabels``,
``unlocking()`` and ``poison_toy_labels()`` check that no code but the one allowed reader touches target labels.
"""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from dabench.config import resolve
from dabench.config_files import merge
from dabench.processes import TRAINING_PRELOAD, fresh_process_context
from dabench.run import build
from dabench.types import Outputs

# What each process of train_in_processes and cli_process imports before it trains: forked from a server holding them.
FORK_PRELOAD = [__name__, *TRAINING_PRELOAD, "dabench.cli", "dabench.bench.benchmark", "sklearn.linear_model"]


def outputs(n: int = 8, dim: int = 5, classes: int = 3, seed: int = 0,
            dtype: torch.dtype = torch.float32) -> tuple[Outputs, Outputs]:
    """Source and target Outputs with random features (n, dim) and logits (n, classes)."""
    g = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=g).to(dtype)  # noqa: E731
    return Outputs(make(n, dim), make(n, classes)), Outputs(make(n, dim) + 1, make(n, classes))


def toy_config(method: str | dict = "source_only", **sections) -> dict:
    """A resolved config for `method` on toy a->b: MLP backbone, 20 steps, no progress bar."""
    cfg = {"dataset": "toy", "source": "a", "target": "b", "method": method, "seed": 0,
           "model": {"backbone": {"name": "mlp", "hidden": [16]}, "bottleneck_dim": 8},
           "trainer": {"steps": 20, "batch_size": 16, "eval_every": 10, "log_every": 5, "device": "cpu"}}
    return resolve(merge(cfg, sections))


def method_sections(name: str, sources: list[str], known_classes: list[int]) -> dict:
    """The config sections that let method `name` run on any data, for tests that run every method:
    its spec (a random backbone allowed where it wants a pretrained one; MixStyle after the
    backbone's first layer), `source_classes` for a method with an unknown-class output, and
    several `sources` (without target data where it reads none) for multi-source and DG methods."""
    from dabench.methods.base import METHODS

    cls = METHODS.get(name)
    spec: str | dict = name
    if name == "align":
        spec = {"name": "align", "terms": {"mmd": 1.0, "coral": {"weight": 0.5}}}
    if cls.needs_pretrained_backbone:
        spec = {"name": name, "allow_random_backbone": True}
    if name == "mixstyle":  # it names the backbone layers it mixes after
        spec = {"name": name, "layers": ["0"]}
    sections = {"method": spec}
    if cls.unknown_output:
        sections["source_classes"] = list(known_classes)
    if cls.needs_several_sources:
        sections.update(source=list(sources), unseen_target=not cls.uses_target)
    return sections


def build_toy(cfg: dict):
    """(trainer, method, data) for a resolved config, seeded by cfg['seed']."""
    trainer, _, data, method = build(cfg)
    return trainer, method, data


def make_folder_domains(root: Path, classes=("cat", "dog", "fox"), per_class: int = 6) -> Path:
    """Two domains (photos, sketches) of small noise PNGs in class folders: root/<domain>/<class>/<i>.png."""
    from PIL import Image

    for domain, shift in (("photos", 0), ("sketches", 60)):
        for label, c in enumerate(classes):
            for i in range(per_class):
                path = root / domain / c / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                noise = np.random.default_rng(100 * label + i).integers(0, 60, (20, 24 + i, 3))
                pixels = (noise + np.array([80 * label + shift, 30 * i, 90])) % 256
                buffer = io.BytesIO()
                Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
                path.write_bytes(buffer.getvalue())
    return root


def tone(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A sine tone, (rate * seconds,) float32."""
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def make_audio_folder_domains(root: Path, classes=("low", "high"), per_class: int = 3, rate: int = 16_000) -> Path:
    """Two domains (quiet, loud) of 16-bit WAV tones in class folders: root/<domain>/<class>/<i>.wav;
    class k is a tone at 300 * (k + 1) Hz, 0.5 to 1.2 seconds long."""
    import soundfile

    for domain, amplitude in (("quiet", 0.1), ("loud", 0.6)):
        for label, c in enumerate(classes):
            for i in range(per_class):
                path = root / domain / c / f"{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, tone(300 * (label + 1) + 10 * i, 0.5 + 0.35 * i, rate, amplitude), rate,
                                subtype="PCM_16")
    return root


def folder_config(root, method="dann", workers=0, steps=6) -> dict:
    """A resolved config for `method` on the folder made by make_folder_domains: photos -> sketches, DTN."""
    return toy_config(method, dataset={"name": "folder", "path": str(root), "image_size": 32, "resize_size": 36,
                                       "normalization": "unit", "workers": workers},
                      source="photos", target="sketches", model={"backbone": "dtn", "bottleneck_dim": 8},
                      trainer={"steps": steps, "batch_size": 4, "eval_every": 3, "log_every": 3})


def toy_benchmark(folder: Path, grid: str, steps: int = 6, figures: bool = False) -> tuple[list[dict], str]:
    """Run a benchmark file on toy in `folder`: `grid` holds its own keys (dataset, pairs, methods, seeds,
    setting keys); an MLP, `steps` steps at batch 16 and no t-SNE are added, and no figures unless `figures`.
    Returns (result rows, table.md)."""
    from dabench.bench.benchmark import run_benchmark

    path = Path(folder) / "grid.yaml"
    path.write_text(grid + "model: {backbone: {name: mlp, hidden: [16]}, bottleneck_dim: 8}\n"
                    f"overrides: {{trainer.steps: {steps}, trainer.batch_size: 16, trainer.eval_every: {steps}}}\n"
                    f"tsne: false\nfigures: {str(figures).lower()}\n")
    run_benchmark(path, Path(folder) / "out", progress_bar=False)
    rows = [json.loads(line) for line in (Path(folder) / "out" / "results.jsonl").read_text().splitlines()]
    return rows, (Path(folder) / "out" / "table.md").read_text()


def cli_process(args: list[str], folder: str | Path):
    """``dabench *args`` in a fresh process with this process's environment, its output written to folder/stdout
    and folder/stderr; returns the started multiprocessing.Process (kill() it, or join() it and read its
    exitcode). It forks from a server that has imported dabench once (dabench.processes), so it starts in a
    fraction of a second where ``python -m dabench`` spends seconds importing torch."""
    process = fresh_process_context(FORK_PRELOAD).Process(target=_cli, args=(list(args), str(folder),
                                                                               dict(os.environ)))
    process.start()
    return process


def _cli(args: list[str], folder: str, environ: dict) -> None:
    from dabench.cli import main

    os.environ.clear()
    os.environ.update(environ)  # the server's environment is the one it started with
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / "stdout", "w") as stdout, open(Path(folder) / "stderr", "w") as stderr:
        os.dup2(stdout.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
        sys.exit(main(args))


def train_in_processes(cfg: dict, out: Path, processes: int = 2, crash_at: int | None = None,
                       resume: bool = False) -> None:
    """Train `cfg` into `out` in `processes` CPU processes joined by gloo, as torchrun launches them
    (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT); with `crash_at`, every process stops when it asks
    for the batch of that step, as a killed job would. The processes fork from a server that has imported
    dabench and its training imports once (dabench.processes): a test starts several such groups."""
    import socket

    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start_method = fresh_process_context(FORK_PRELOAD).get_start_method()
    torch.multiprocessing.start_processes(_train_process, (processes, port, cfg, str(out), crash_at, resume),
                                          nprocs=processes, start_method=start_method)


def _train_process(rank: int, world: int, port: int, cfg: dict, out: str, crash_at: int | None,
                   resume: bool) -> None:
    import os

    from dabench.data.loaders import InfiniteBatches
    from dabench.run import train

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if crash_at is not None:
        batch = InfiniteBatches.batch

        def crashing(stream, step):
            if step == crash_at:
                raise KeyboardInterrupt
            return batch(stream, step)

        InfiniteBatches.batch = crashing
    try:
        train(cfg, out, resume=resume)
    except KeyboardInterrupt:  # every process stopped at the same step: leave together, as a killed job's do
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


class PoisonedLabels(torch.Tensor):
    """Labels that raise on any read of their values (shape, length and device queries pass) while locked: a test
    hands them to everything that must never read a target label, and unlocks them only for the reader that may
    (`unlocking`)."""

    unlocked = False
    METADATA = {"__len__", "size", "dim", "__get__", "cpu", "to"}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if not cls.unlocked and getattr(func, "__name__", "") not in cls.METADATA:
            raise AssertionError(f"labels read by {getattr(func, '__name__', func)}")
        return super().__torch_function__(func, types, args, kwargs or {})


def unlocking(function):
    """`function`, with PoisonedLabels readable while it runs."""
    def unlocked(*args, **kwargs):
        PoisonedLabels.unlocked = True
        try:
            return function(*args, **kwargs)
        finally:
            PoisonedLabels.unlocked = False
    return unlocked


def poison_toy_labels(monkeypatch, poisoned_domains) -> None:
    """The toy dataset's labels of every domain in `poisoned_domains` become PoisonedLabels."""
    from dabench.data.toy import Toy

    load = Toy.load

    def poisoned_load(self, domain, split):
        dataset = load(self, domain, split)
        if domain in poisoned_domains:
            x, y = dataset.tensors
            dataset.tensors = (x, y.as_subclass(PoisonedLabels))
        return dataset

    monkeypatch.setattr(Toy, "load", poisoned_load)
