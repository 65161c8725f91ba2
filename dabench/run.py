"""One training run: resolved config -> data -> model -> method -> Trainer -> result.json.

``train(cfg, out)`` is what ``dabench train`` calls. A finished run is never recomputed:
if ``out/result.json`` holds the same resolved config it is returned as is; an
interrupted run (a checkpoint without a result) continues only when asked to resume.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from dabench.config import apply_overrides, config_hash, merge, resolve
from dabench.data.base import DATASETS, DomainDataset
from dabench.data.loaders import TransferData
from dabench.errors import DabenchError
from dabench.log import make_logger
from dabench.methods.base import METHODS, Method
from dabench.models.model import Model, build_model
from dabench.provenance import git_commit, provenance
from dabench.trainer import Optim, Trainer, load_checkpoint


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_json_atomic(obj, path: Path) -> None:
    """Write JSON to a temporary file, fsync, then rename over `path`."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cache_dir() -> Path:
    """Where first-stage source models are kept: $DABENCH_CACHE, else ~/.cache/dabench-runs."""
    if os.environ.get("DABENCH_CACHE"):
        return Path(os.environ["DABENCH_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dabench-runs"


def source_stage_config(cfg: dict, stage: dict) -> dict:
    """The first-stage run of `cfg`: source only, on the source domain alone, so every target shares it.

    The target is set to the source (its test split then scores the source model), no
    target labels are used and nothing is logged to wandb; `stage` overrides the rest.
    """
    first = merge({k: v for k, v in cfg.items() if k != "logging"},
                  {"target": cfg["source"], "target_labeled": 0})
    return resolve(apply_overrides(first, stage))


def train_source_stage(cfg: dict, stage: dict, input_shape: tuple[int, ...], num_classes: int) -> tuple[Model, dict]:
    """Train (or reuse from the cache) the first stage of `cfg`; returns its model and a summary.

    `input_shape` and `num_classes` are the run's: the stage reads the same dataset.
    """
    first = source_stage_config(cfg, stage)
    out = cache_dir() / "source_models" / f"{first['dataset']['name']}-{first['source']}-{config_hash(first)}"
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / "lock")):  # parallel cells of a grid train it once
        result = train(first, out, resume=True)
    weights = load_checkpoint(out / "checkpoint.pt")["method"]
    model = build_model(**first["model"], input_shape=input_shape, num_classes=num_classes)
    model.load_state_dict({k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")})
    return model, {"path": str(out), "config_hash": result["config_hash"], "method": first["method"],
                   "model": first["model"], "steps": result["steps"],
                   "source_test_accuracy": result["target_accuracy"]}


def build(cfg: dict) -> tuple[Trainer, DomainDataset, TransferData, Method]:
    """Seed, then build the trainer, dataset, data module and method (with its model) of a resolved config.

    A method with a ``source_stage`` first receives its trained (or cached) source model;
    its summary is kept as ``method.source_stage_summary``.
    """
    seed_everything(cfg["seed"])
    trainer = Trainer(**cfg["trainer"], optim=Optim(**cfg["optim"]))
    dataset = DATASETS.build(cfg["dataset"], root=cfg["data_root"])
    data = TransferData(dataset, cfg["source"], cfg["target"], cfg["val_fraction"], trainer.device,
                        cfg["target_labeled"])
    model = build_model(**cfg["model"], input_shape=data.input_shape, num_classes=data.num_classes)
    method = METHODS.build(cfg["method"])
    method.build(model, data.num_classes)
    method.source_stage_summary = None
    stage = method.source_stage()
    if stage is not None:
        source_model, method.source_stage_summary = train_source_stage(cfg, stage, data.input_shape, data.num_classes)
        seed_everything(cfg["seed"])  # the same RNG state whether the stage was trained now or cached
        method.start_from(source_model)
    return trainer, dataset, data, method


def train(cfg: dict, out: str | Path, resume: bool = False, progress_bar: bool = False) -> dict:
    """Run (or resume, or return the finished) training run of `cfg` in folder `out`; returns result.json's content."""
    git_commit()  # before training: the commit of the code this process imported
    cfg = resolve(cfg)
    out = Path(out)
    result_path, checkpoint_path = out / "result.json", out / "checkpoint.pt"
    if result_path.exists():
        done = json.loads(result_path.read_text())
        if done.get("config_hash") == config_hash(cfg):
            return done
        raise DabenchError(f"{out} holds a finished run with a different config; choose another --out or delete it")
    if checkpoint_path.exists() and not resume:
        raise DabenchError(f"{out} holds an interrupted run; pass --resume to continue it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    resume_state = load_checkpoint(checkpoint_path) if resume and checkpoint_path.exists() else None
    if resume_state is not None and resume_state.get("config_hash") != config_hash(cfg):
        raise DabenchError(f"{out}/checkpoint.pt was made with a different config; resume with the same config")

    trainer, dataset, data, method = build(cfg)
    logger = make_logger(out, cfg, resume_state["step"] if resume_state else None, **cfg["logging"])
    try:
        records = trainer.fit(method, data, out, logger, cfg["seed"], resume_state, config_hash(cfg), progress_bar)
    finally:
        logger.finish()
    last = records[-1]
    result = {
        "method": cfg["method"]["name"], "dataset": cfg["dataset"]["name"],
        "source": cfg["source"], "target": cfg["target"], "seed": cfg["seed"],
        "target_accuracy": last["target_test_acc"], "source_accuracy": last["source_val_acc"],
        "selection": "last checkpoint", "steps": last["step"],
        "resumed_from_step": resume_state["step"] if resume_state else 0,
        "final_losses": {k[5:]: v for k, v in last.items() if k.startswith("loss/")},
        "target_labeled": cfg["target_labeled"], "source_stage": method.source_stage_summary,
        "records": records, "protocol": dataset.protocol, "data_sizes": data.sizes,
        "data_files": dataset.used_files, "config": cfg, "config_hash": config_hash(cfg),
        "wall_s": trainer.wall_s, **provenance(trainer.device),
    }
    write_json_atomic(result, result_path)
    return result
