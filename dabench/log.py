"""Metric loggers, chosen in the config's ``logging`` section: a JSONL file per run (always), and
optionally CSV, TensorBoard and wandb (offline by default).

Every logger has ``log(step, metrics)`` and ``finish(summary=None)``; `summary` holds the run's
final metrics and its config hash (wandb keeps them as the run summary).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from dabench.errors import DabenchError
from dabench.io import append_text, read_jsonl, write_bytes_atomic


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
        append_text(self.path, json.dumps({"step": step, **metrics}) + "\n")

    def finish(self, summary: dict | None = None) -> None:
        pass


class CsvLogger:
    """metrics.csv in long form, one ``step,metric,value`` row per number (``pandas.read_csv(...).pivot``
    gives the wide table), trimmed to step k on resume like the JSONL file."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            with open(self.path, newline="") as f:
                kept = [row for row in csv.reader(f) if row and row[0] != "step" and row[0].isdigit()
                        and int(row[0]) <= resume_step and len(row) == 3]
            text = "step,metric,value\n" + "".join(",".join(row) + "\n" for row in kept)
            write_bytes_atomic(text.encode(), self.path)
        elif resume_step is None:
            self.path.write_text("step,metric,value\n")

    def log(self, step: int, metrics: dict) -> None:
        rows = io.StringIO(newline="")
        csv.writer(rows).writerows([step, name, value] for name, value in metrics.items())
        append_text(self.path, rows.getvalue())

    def finish(self, summary: dict | None = None) -> None:
        pass


class TensorBoardLogger:
    """Scalars in run_dir/tensorboard (``tensorboard --logdir runs/``); a resume purges the events
    after its step, as TensorBoard's ``purge_step`` does."""

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise DabenchError("logging.tensorboard=true needs the tensorboard package: pip install "
                               "'dabench[tensorboard]'") from None

        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"),
                                    purge_step=None if resume_step is None else resume_step + 1)

    def log(self, step: int, metrics: dict) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)

    def finish(self, summary: dict | None = None) -> None:
        self.writer.close()


class WandbLogger:
    """wandb run in `mode` ("offline" by default: nothing leaves the machine until `wandb sync`)."""

    def __init__(self, run_dir: Path, config: dict, project: str, mode: str, group: str | None, name: str):
        import wandb

        self.run = wandb.init(project=project, mode=mode, dir=str(run_dir), config=config, group=group,
                              name=name, reinit="finish_previous")

    def log(self, step: int, metrics: dict) -> None:
        self.run.log(metrics, step=step)

    def finish(self, summary: dict | None = None) -> None:
        if summary:
            self.run.summary.update(summary)
        self.run.finish()


class Loggers:
    """Fans each call out to several loggers."""

    def __init__(self, *loggers):
        self.loggers = loggers

    def log(self, step: int, metrics: dict) -> None:
        for logger in self.loggers:
            logger.log(step, metrics)

    def finish(self, summary: dict | None = None) -> None:
        for logger in self.loggers:
            logger.finish(summary)


def make_logger(run_dir: Path, config: dict, resume_step: int | None, wandb: bool = False,
                wandb_project: str = "dabench", wandb_mode: str = "offline", wandb_group: str | None = None,
                tensorboard: bool = False, csv: bool = False) -> Loggers:
    """Loggers for one run, from the config's ``logging`` section (keys = the keyword arguments)."""
    loggers = [JsonlLogger(Path(run_dir) / "metrics.jsonl", resume_step)]
    if csv:
        loggers.append(CsvLogger(Path(run_dir) / "metrics.csv", resume_step))
    if tensorboard:
        loggers.append(TensorBoardLogger(Path(run_dir), resume_step))
    if wandb:
        name = f"{config['method']['name']}:{config['source']}->{config['target']}:seed{config['seed']}"
        loggers.append(WandbLogger(Path(run_dir), config, wandb_project, wandb_mode, wandb_group, name))
    return Loggers(*loggers)
