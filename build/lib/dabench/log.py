"""Metric loggers: a JSONL file per run, and wandb (offline by default) when enabled."""
from __future__ import annotations

import json
from pathlib import Path

from dabench.io import read_jsonl, write_bytes_atomic


class JsonlLogger:
    """Appends one JSON object per `log` call to `path`.

    On resume from step k, rows logged after k by the interrupted run are dropped first (and a
    torn last line, from a kill mid-append), so the file reads as if the run had never stopped.
    """

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            rows = [r for r in read_jsonl(self.path) if r.get("step", resume_step + 1) <= resume_step]
            write_bytes_atomic("".join(json.dumps(r) + "\n" for r in rows).encode(), self.path)
        elif resume_step is None:
            self.path.write_text("")

    def log(self, step: int, metrics: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")

    def finish(self) -> None:
        pass


class WandbLogger:
    """wandb run in `mode` ("offline" by default: nothing leaves the machine until `wandb sync`)."""

    def __init__(self, run_dir: Path, config: dict, project: str, mode: str, group: str | None, name: str):
        import wandb

        self.run = wandb.init(project=project, mode=mode, dir=str(run_dir), config=config, group=group,
                              name=name, reinit="finish_previous")

    def log(self, step: int, metrics: dict) -> None:
        self.run.log(metrics, step=step)

    def finish(self) -> None:
        self.run.finish()


class Loggers:
    """Fans each call out to several loggers."""

    def __init__(self, *loggers):
        self.loggers = loggers

    def log(self, step: int, metrics: dict) -> None:
        for logger in self.loggers:
            logger.log(step, metrics)

    def finish(self) -> None:
        for logger in self.loggers:
            logger.finish()


def make_logger(run_dir: Path, config: dict, resume_step: int | None, wandb: bool = False,
                wandb_project: str = "dabench", wandb_mode: str = "offline", wandb_group: str | None = None) -> Loggers:
    """Loggers for one run, from the config's ``logging`` section (keys = the keyword arguments)."""
    loggers = [JsonlLogger(Path(run_dir) / "metrics.jsonl", resume_step)]
    if wandb:
        name = f"{config['method']['name']}:{config['source']}->{config['target']}:seed{config['seed']}"
        loggers.append(WandbLogger(Path(run_dir), config, wandb_project, wandb_mode, wandb_group, name))
    return Loggers(*loggers)
