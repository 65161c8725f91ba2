"""Trainer: the only training loop. Methods return loss terms; the trainer owns the rest.

Iteration-based (the DA convention): step k draws source batch k and target batch k from
endless shuffled streams (and labeled target batch k when ``target_labeled`` > 0), runs
``method.updates(...)`` (by default one update: the sum of ``method.loss`` terms), steps SGD
with the DANN annealing lr_p = lr0 (1 + gamma p)^-power, evaluates and checkpoints every
``eval_every`` steps. A checkpoint holds everything the next steps depend on (weights,
optimizer, RNG, loss sums), and batches depend only on the step number, so a resumed run
is bit-identical to an uninterrupted one on CPU.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LRScheduler, StepLR
from tqdm.auto import tqdm

from dabench import distributed
from dabench.data.loaders import InfiniteBatches, TransferData, source_batches
from dabench.errors import DabenchError, NonFiniteLoss
from dabench.evaluate import evaluate
from dabench.io import save_atomic
from dabench.models.model import backbone_layer_ids
from dabench.schema import Optim
from dabench.types import Batch


def inv_factor(progress: float, gamma: float = 10.0, power: float = 0.75) -> float:
    """The DANN annealing (Ganin et al. 2016, Sec. 5.2.2): lr multiplier (1 + gamma p)^-power at p in [0, 1]."""
    return (1 + gamma * progress) ** -power


def make_optimizer(groups: list[dict], optim: Optim, fused: bool = False) -> torch.optim.Optimizer:
    """torch.optim optimizer over `groups`, each at lr * its ``lr_mult``; `fused`: one fused kernel per step
    (None lets torch choose its default implementation)."""
    groups = [{**group, "lr": optim.lr * group["lr_mult"]} for group in groups]
    fused = fused or None  # fused=False would also rule out torch's foreach default
    if optim.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay,
                               nesterov=optim.nesterov and optim.momentum > 0, fused=fused)
    adam = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optim.optimizer]
    return adam(groups, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay, fused=fused)


def layer_decayed(groups: list[dict], method, decay: float) -> list[dict]:
    """Layer-wise learning-rate decay: each group's parameters of the method's backbone split by layer, layer i
    of L (``backbone_layer_ids``) at the group's lr_mult * decay^(L - i); other parameters unchanged. decay 1:
    `groups`."""
    if decay == 1:
        return groups
    backbone = method.model.backbone
    names = {id(p): name for name, p in backbone.named_parameters()}
    layer_of = backbone_layer_ids(backbone)
    depth = max(layer_of.values()) + 1
    out = []
    for group in groups:
        rest = [p for p in group["params"] if id(p) not in names]
        by_layer: dict[int, list] = {}
        for p in group["params"]:
            if id(p) in names:
                by_layer.setdefault(layer_of[names[id(p)]], []).append(p)
        out += [{**group, "params": rest}] if rest else []
        out += [{**group, "params": params, "lr_mult": group["lr_mult"] * decay ** (depth - layer)}
                for layer, params in sorted(by_layer.items())]
    return out


def make_schedule(optimizer: torch.optim.Optimizer, optim: Optim, steps: int) -> LRScheduler:
    """The learning-rate schedule, a torch scheduler stepped once per iteration."""
    if optim.schedule == "inv":
        return LambdaLR(optimizer, lambda step: inv_factor(step / steps, optim.gamma, optim.power))
    if optim.schedule == "inv_iter":  # TLlib's LambdaLR: gamma per iteration, whatever the run length
        return LambdaLR(optimizer, lambda step: inv_factor(step, optim.gamma, optim.power))
    if optim.schedule == "cosine":
        return CosineAnnealingLR(optimizer, T_max=steps)
    if optim.schedule == "step":
        return StepLR(optimizer, step_size=optim.step_size, gamma=optim.step_gamma)
    return LambdaLR(optimizer, lambda step: 1.0)


def resolve_device(device: str) -> torch.device:
    """The torch device of trainer.device; a CUDA device is made the current one, so that kernels, streams
    and the allocator of libraries that use "the current device" (cuDNN, autocast) match it."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DabenchError(f"trainer.device={device} but CUDA is not available; use trainer.device=auto or cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is not None:
        count = torch.cuda.device_count()
        if resolved.index >= count:
            raise DabenchError(f"trainer.device={device} but this machine has {count} CUDA device(s), cuda:0.."
                               f"cuda:{count - 1}; pick one of them")
        torch.cuda.set_device(resolved)
    return resolved


@dataclass(frozen=True)
class Fit:
    """What Trainer.fit returns: one record per evaluation, and the training wall time (seconds,
    including the time before a resume)."""

    records: list[dict]
    wall_s: float


def start(method, data: TransferData, device: torch.device, state: dict | None = None) -> None:
    """Bring a built method to the point where training or evaluation begins, in the one order every
    caller uses: to the device, ``begin`` on the source split and target inputs (SHOT's memory buffers), then the
    checkpoint's weights and buffers if `state` is given."""
    method.to(device).train()
    method.begin(data.source_train, data.target_inputs)
    if state is not None:
        method.load_state_dict(state["method"])


@contextlib.contextmanager
def torch_threads(count: int):
    """torch uses `count` CPU threads inside, and the previous count again after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Trainer:
    """Runs `steps` optimisation steps of a method on a TransferData.

    Every argument is required: the defaults live in the typed config (schema.TrainerConfig).

    Args:
        steps: number of iterations (each one source batch and one target batch).
        batch_size: samples per domain per step.
        eval_every: evaluate and checkpoint every k steps (and at the last step).
        log_every: sync the running losses to the progress bar and logs every k steps.
        precision: "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16" or "fp32".
        device: "auto", "cpu", "cuda", "cuda:1"...
        eval_batch_size: chunk size for evaluation.
        threads: CPU threads for torch (the result bits depend on it on CPU).
        compile: False, True or "backbone" (torch.compile the backbone), "model" (the whole model).
        channels_last, fused_optimizer, tf32, cudnn_benchmark: GPU speed switches (schema.TrainerConfig);
            None turns each on with CUDA and off on the CPU.
        optim: SGD and learning-rate schedule.
    """

    def __init__(self, steps: int, batch_size: int, eval_every: int, log_every: int, precision: str, device: str,
                 eval_batch_size: int, eval_target_samples: int | None, threads: int, compile: bool | str,
                 channels_last: bool | None, fused_optimizer: bool | None, tf32: bool | None,
                 cudnn_benchmark: bool | None, optim: Optim):
        self.steps, self.batch_size, self.eval_every, self.log_every = steps, batch_size, eval_every, log_every
        self.threads = threads
        self.group = distributed.launched()  # torchrun's processes, or this one alone
        self.device = resolve_device(device)
        if self.group.world > 1 and self.device.type == "cuda" and device in ("auto", "cuda"):
            self.device = resolve_device(f"cuda:{self.group.local_rank}")  # one GPU per process
        if precision not in ("auto", "bf16", "fp32"):
            raise DabenchError(f"unknown trainer.precision '{precision}'; known: auto, bf16, fp32")
        cuda = self.device.type == "cuda"
        self.bf16 = precision == "bf16" or (precision == "auto" and cuda)
        self.compile = "backbone" if compile is True else compile
        self.channels_last, self.fused_optimizer, self.tf32, self.cudnn_benchmark = (
            cuda if switch is None else switch for switch in (channels_last, fused_optimizer, tf32, cudnn_benchmark))
        self.eval_batch_size, self.eval_target_samples, self.optim = eval_batch_size, eval_target_samples, optim
        # Entered around each step's work between log steps, which must not wait for the device: a check can
        # set it to a CUDA sync detector (benchmarks/gpu_speed.py uses torch.cuda.set_sync_debug_mode).
        self.step_guard = contextlib.nullcontext

    def prepare(self, method) -> None:
        """Apply the speed switches to a started method (on its device) and to torch's global settings."""
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = self.tf32
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
        if self.channels_last:
            method.to(memory_format=torch.channels_last)  # 4-D weights only
        if self.compile:
            (method.model.backbone if self.compile == "backbone" else method.model).compile()

    def formatted(self, batch: Batch | None) -> Batch | None:
        """`batch` with 4-D inputs in channels-last format when that switch is on."""
        if batch is None or not self.channels_last or batch.x.dim() != 4:
            return batch
        return dataclasses.replace(batch, x=batch.x.contiguous(memory_format=torch.channels_last))

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def fit(self, method, data: TransferData, run_dir: Path, logger, seed: int,
            resume_state: dict | None = None, tag: str = "", progress_bar: bool = False) -> Fit:
        """Train `method` (already built); returns its records (one per evaluation) and wall time.

        `resume_state` is a loaded checkpoint (``load_checkpoint``) to continue from; `tag` is
        stored in checkpoints (the config hash) so a resume can check it continues the same run;
        `progress_bar` shows a tqdm bar with the running losses.
        Records: step, lr, loss/<term> and loss/total (means over the last log window),
        source_val_acc, source_val_loss, target_test_acc (oracle) and score/<validator> for each
        label-free validator. Checkpoint: run_dir/checkpoint.pt.
        """
        with torch_threads(self.threads):  # the result bits depend on it; the caller's count comes back after
            return self._fit(method, data, run_dir, logger, seed, resume_state, tag, progress_bar)

    def _fit(self, method, data: TransferData, run_dir: Path, logger, seed: int, resume_state: dict | None,
             tag: str, progress_bar: bool) -> Fit:
        group, leader = self.group, self.group.leader
        joined = distributed.join(group, self.device, self.batch_size)
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        checkpoint_path = Path(run_dir) / "checkpoint.pt"
        start(method, data, self.device, resume_state)
        if group.world > 1:
            distributed.follow_leader(method, everything=True)
            torch.manual_seed(seed * 7919 + group.rank)  # each process its own dropout and augmentation draws
        self.prepare(method)
        optimizers = {name: make_optimizer(layer_decayed(groups, method, self.optim.layer_decay),
                                           self.optim, self.fused_optimizer)
                      for name, groups in method.optimizers(self.optim.backbone_lr_mult).items() if groups}
        schedules = {name: make_schedule(optimizer, self.optim, self.steps) for name, optimizer in optimizers.items()}
        share = {"rank": group.rank, "world": group.world}  # this process's part of each global batch
        source = source_batches(data.source_train, self.batch_size, seed, **share)
        target = (InfiniteBatches(data.target_train, None, self.batch_size, seed + 7919, data.target_positions, **share)
                  if len(data.target_train) else None)  # None: domain generalization, no target data
        labeled = (InfiniteBatches(data.target_labeled.x, data.target_labeled.y, self.batch_size, seed + 104729,
                                   **share) if data.target_labeled is not None else None)
        state = {"step": 0, "records": [], "sums": {}, "count": 0, "wall_s": 0.0}
        if resume_state is not None:
            state = resume_state
            for name, optimizer in optimizers.items():
                optimizer.load_state_dict(state["optimizers"][name])
                schedules[name].load_state_dict(state["schedules"][name])
            rng, cuda_rng, state["sums"] = process_state(state, group, self.device)
            torch.set_rng_state(rng)
            if cuda_rng is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(cuda_rng)
        sums, count, records = state["sums"], state["count"], state["records"]
        # Per term, the first step at which it was not finite (-1: none yet), kept on the device and
        # read at log steps only, so the guard adds no host sync to a step.
        never = torch.tensor(-1, device=self.device)
        bad_at: dict[str, torch.Tensor] = {}
        started, losses = time.perf_counter() - state["wall_s"], {}
        bar = tqdm(total=self.steps, initial=state["step"], disable=not (progress_bar and leader), dynamic_ncols=True,
                   leave=False, desc=getattr(method, "registered_name", "train"))
        for step in range(state["step"], self.steps):
            progress = step / self.steps
            first = next(iter(optimizers.values()), None)  # the base lr: a group's lr over its lr_mult
            lr = first.param_groups[0]["lr"] / first.param_groups[0]["lr_mult"] if first else self.optim.lr
            with self.step_guard():
                terms = {}
                updates = method.updates(self.formatted(source.batch(step)),
                                         self.formatted(target.batch(step) if target else None), progress,
                                         self.formatted(labeled.batch(step) if labeled else None))
                # Each update is computed after the previous one's optimizer step (MCD, ADDA).
                for name, update_terms in _autocast_each(updates, self.autocast):
                    update_total = sum(update_terms.values(), torch.zeros((), device=self.device))
                    if update_total.requires_grad:  # AdaBN-style updates only refresh statistics
                        method.zero_grad(set_to_none=True)
                        update_total.backward()
                        if group.world > 1:
                            distributed.average_gradients(optimizers[name], group.world)
                        optimizers[name].step()
                    terms.update(update_terms)
                for schedule in schedules.values():
                    schedule.step()
                if group.world > 1:
                    distributed.follow_leader(method)  # batch-norm statistics, as DistributedDataParallel keeps them
                total = sum(terms.values(), torch.zeros((), device=self.device))
                # Accumulate on the device; .item() would sync a GPU every step.
                for name, value in {**terms, "total": total}.items():
                    sums[name] = sums.get(name, 0.0) + value.detach().float()
                count += 1
                for name, value in terms.items():
                    seen = bad_at.get(name, never)
                    bad_at[name] = torch.where((seen < 0) & ~torch.isfinite(value.detach()), step + 1, seen)
            bar.update(1)
            done = step + 1
            evaluating = done % self.eval_every == 0 or done == self.steps
            if evaluating or done % self.log_every == 0:
                if group.world > 1 and bad_at:
                    distributed.flat_all_reduce(list(bad_at.values()), distributed.dist.ReduceOp.MAX)
                _stop_if_not_finite(bad_at)  # before a checkpoint could keep diverged weights
            if done % self.log_every == 0 or done == self.steps:
                if group.world > 1:  # the global batch's means
                    distributed.flat_all_reduce(list(sums.values()))
                    sums = {name: value / group.world for name, value in sums.items()}
                losses = {f"loss/{name}": (value / count).item() for name, value in sums.items()}
                sums, count = {}, 0
                if leader:
                    logger.log(done, {**losses, "lr": lr})
                bar.set_postfix({k[5:]: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
            if evaluating:
                # What each process continues from: its RNG states and the loss sums since the last log step.
                processes = distributed.gather(
                    (torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                     {name: value.cpu() for name, value in sums.items()}), group)
                if leader:
                    record = {"step": done, "lr": lr, **losses,
                              **evaluate(method, data, self.eval_batch_size, self.autocast(), done,
                                         self.eval_target_samples)}
                    records.append(record)
                    logger.log(done, {k: v for k, v in record.items() if k != "step"})
                    save_atomic({"step": done, "config_hash": tag, "method": method.state_dict(),
                                 "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
                                 "schedules": {name: s.state_dict() for name, s in schedules.items()},
                                 **saved_process_state(processes), "processes": group.world, "count": count,
                                 "records": records,
                                 "wall_s": time.perf_counter() - started}, checkpoint_path)
        bar.close()
        if joined:
            distributed.leave()
        return Fit(records, time.perf_counter() - started)


def saved_process_state(processes: list[tuple]) -> dict:
    """The checkpoint entries of the processes' (CPU RNG state, CUDA RNG states, loss sums): the values
    themselves for one process, a list per entry (by rank) for several."""
    entries = dict(zip(("rng", "cuda_rng", "sums"), zip(*processes)))
    return {key: list(values) if len(processes) > 1 else values[0] for key, values in entries.items()}


def process_state(state: dict, group: distributed.Group, device: torch.device) -> tuple:
    """(CPU RNG state, CUDA RNG states or None, loss sums on `device`) of this process in a checkpoint; refuses one
    made by another number of processes, whose batches were split differently."""
    processes = state.get("processes", 1)
    if processes != group.world:
        raise DabenchError(f"the checkpoint was made by {processes} process(es) and this run has {group.world}; "
                           f"resume with torchrun --nproc_per_node {processes}" if processes > 1 else
                           "the checkpoint was made by 1 process; resume it without torchrun")
    rng, cuda_rng, sums = (state[key] if group.world == 1 else state[key][group.rank]
                           for key in ("rng", "cuda_rng", "sums"))
    return rng, cuda_rng, {name: value.to(device) for name, value in sums.items()}


def _stop_if_not_finite(bad_at: dict[str, torch.Tensor]) -> None:
    """Raise NonFiniteLoss naming the first step and the terms that were not finite at it."""
    if not bad_at:
        return
    steps = dict(zip(bad_at, torch.stack(list(bad_at.values())).tolist()))
    bad = {name: step for name, step in steps.items() if step >= 0}
    if bad:
        first = min(bad.values())
        terms = ", ".join(f"loss/{name}" for name, step in bad.items() if step == first)
        raise NonFiniteLoss(f"training diverged: {terms} became non-finite at step {first}; lower optim.lr or "
                            f"the method's trade_off")


def _autocast_each(updates, autocast):
    """Run each step of the `updates` generator (its forward passes) under a fresh autocast context."""
    while True:
        with autocast():
            try:
                item = next(updates)
            except StopIteration:
                return
        yield item

