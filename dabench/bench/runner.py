"""Run the cells of a grid: skip finished ones, claim the rest, resume interrupted ones.

Executors (no home-made scheduler beyond a local process pool):
- ``local``: in this process (workers=1) or a pool of `workers` processes (CPU).
- ``gpus``: one process per visible GPU (``--runs-per-gpu N``: N per GPU), each pinned with
  CUDA_VISIBLE_DEVICES to one of the GPUs the parent process sees.
- ``slurm``: a SLURM job array through submitit (``slurm`` options go to
  ``AutoExecutor.update_parameters``, e.g. timeout_min, slurm_partition, gpus_per_node).
- ``submitit_local``: submitit's LocalExecutor, the same path as slurm on one machine.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dabench.bench.grid import Cell
from dabench.bench.store import ResultStore
from dabench.errors import DabenchError
from dabench.processes import TRAINING_PRELOAD, fresh_process_context
from dabench.run import RunFailed, train

EXECUTORS = ("local", "gpus", "slurm", "submitit_local")


def execute(cell: Cell, root: str, progress_bar: bool = False) -> str:
    """Run one cell if it is free: 'ran' (trained or resumed to the end), 'failed' (its loss diverged;
    recorded in failed.json), 'done' (already finished or failed) or 'busy' (another runner holds its lease)."""
    store = ResultStore(root)
    if not store.claim(cell):
        return "done" if store.is_done(cell) else "busy"
    outcome = "ran"
    try:
        with store.heartbeat(cell):
            train(cell.config, store.cell_dir(cell), resume=True, progress_bar=progress_bar)
    except RunFailed as err:
        tqdm.write(f"dabench: {cell.method} {cell.source}->{cell.target} seed {cell.seed} failed: {err}",
                   file=sys.stderr)
        outcome = "failed"
    finally:
        store.release(cell)
    with store.lock:
        store.write_results()
    return outcome


def _pin_gpu(queue) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = str(queue.get())


def gpu_slots(count: int, runs_per_gpu: int, visible: str | None) -> list[str]:
    """The CUDA_VISIBLE_DEVICES value of each ``gpus`` worker: every visible GPU `runs_per_gpu` times.
    The GPUs are the parent's own CUDA_VISIBLE_DEVICES entries when it has them (a job given GPUs 2,3
    must not run on 0,1), else 0..count-1."""
    ids = [v.strip() for v in visible.split(",") if v.strip()][:count] if visible else [str(i) for i in range(count)]
    return [gpu for gpu in ids for _ in range(runs_per_gpu)]


def run_cells(cells: list[Cell], root: str | Path, executor: str = "local", workers: int = 1,
              slurm: dict | None = None, progress_bar: bool = True, runs_per_gpu: int = 1,
              detach: bool = False) -> dict[str, str]:
    """Run every unfinished cell; returns {cell_id: 'ran' | 'failed' | 'done' | 'lost' | 'submitted'}.

    With the ``gpus`` executor, `runs_per_gpu` runs share each GPU (small models leave most of a large
    GPU idle). With submitit (``slurm``, ``submitit_local``), a job that dies without a result (killed,
    preempted, out of memory) is 'lost' and the others still count: rerunning the benchmark retries
    it. `detach` returns once the jobs are submitted ('submitted'); ``dabench table`` reads what they write.
    """
    if executor not in EXECUTORS:
        raise DabenchError(f"unknown executor '{executor}'; known: {', '.join(EXECUTORS)}")
    root = str(root)
    store = ResultStore(root)
    status = {c.cell_id: "done" for c in cells if store.is_done(c)}
    pending = [c for c in cells if c.cell_id not in status]
    bar = tqdm(total=len(cells), initial=len(status), desc="grid", unit="run", disable=not progress_bar,
               dynamic_ncols=True)

    def finished(cell: Cell, outcome: str, running: int) -> None:
        status[cell.cell_id] = outcome
        bar.update(1)
        bar.set_postfix(done=sum(s in ("ran", "done", "failed") for s in status.values()), running=running,
                        left=len(cells) - len(status), refresh=True)

    if executor == "local" and workers == 1:
        for cell in pending:
            bar.set_postfix(done=len(status), running=1, left=len(cells) - len(status), refresh=True)
            finished(cell, execute(cell, root, progress_bar), 0)
    elif executor in ("local", "gpus"):
        # GPU workers are spawned: a fork server's children have not been run with CUDA (CI has no GPU).
        context = multiprocessing.get_context("spawn") if executor == "gpus" else fresh_process_context(TRAINING_PRELOAD)
        if executor == "gpus":
            slots = gpu_slots(torch.cuda.device_count(), runs_per_gpu, os.environ.get("CUDA_VISIBLE_DEVICES"))
            if not slots:
                raise DabenchError("executor 'gpus' found no visible GPU; use --executor local")
            workers, queue = len(slots), context.Queue()
            for gpu in slots:
                queue.put(gpu)
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_pin_gpu, initargs=(queue,))
        else:
            pool = ProcessPoolExecutor(workers, mp_context=context)
        with pool:
            futures = {pool.submit(execute, cell, root, False): cell for cell in pending}
            for i, future in enumerate(as_completed(futures)):
                finished(futures[future], future.result(), min(workers, len(pending) - i - 1))
    else:
        import submitit

        folder = Path(root) / "submitit"
        if executor == "slurm":
            if shutil.which("sbatch") is None:  # submitit's AutoExecutor would silently run the cells here instead
                raise DabenchError("executor 'slurm' needs SLURM (no sbatch on PATH on this machine); run on the "
                                   "cluster's login node, or use --executor local / submitit_local")
            engine = submitit.AutoExecutor(folder=folder, cluster="slurm")
        else:
            engine = submitit.LocalExecutor(folder=folder)
        try:
            engine.update_parameters(**(slurm or {}))
        except (TypeError, ValueError) as err:
            raise DabenchError(f"--slurm options {slurm}: {str(err).splitlines()[0]}") from None
        jobs = engine.map_array(execute, pending, [root] * len(pending))
        if detach:
            bar.close()
            return {**status, **{cell.cell_id: "submitted" for cell in pending}}
        for job, cell in zip(jobs, pending):
            try:
                outcome = job.result()
            except Exception as err:  # the task died: its claim's lease ends and a rerun retries it
                tqdm.write(f"dabench: {cell.method} {cell.source}->{cell.target} seed {cell.seed}: job {job.job_id} "
                           f"ended without a result ({type(err).__name__}: {str(err).strip().splitlines()[-1][:200]}); "
                           f"rerun the benchmark to retry it", file=sys.stderr)
                outcome = "lost"
            finished(cell, outcome, sum(not j.done() for j in jobs))
    bar.close()
    _finish_busy(cells, root, status, progress_bar)
    return status


def _finish_busy(cells: list[Cell], root: str, status: dict[str, str], progress_bar: bool,
                 poll_s: float = 1.0) -> None:
    """Cells another runner holds: wait until they finish, taking over any whose lease ends."""
    waiting = False
    while busy := [c for c in cells if status[c.cell_id] == "busy"]:
        if not waiting:
            waiting = True
            tqdm.write(f"dabench: waiting for {len(busy)} run(s) held by other runners; a lease ends "
                       f"{ResultStore(root).lease_s:.0f} s after its runner's last heartbeat (DABENCH_LEASE_S)",
                       file=sys.stderr)
        for cell in busy:
            outcome = execute(cell, root, progress_bar)
            status[cell.cell_id] = "done" if outcome == "done" else outcome
        if any(status[c.cell_id] == "busy" for c in busy):
            time.sleep(poll_s)
