"""Data-parallel training of one run over several processes, launched by torchrun:

    torchrun --nproc_per_node 4 -m dabench train configs/office31.yaml --out runs/a2w

Every process builds the same model from the same seed; at step k each takes its share of the
step's global batch (``trainer.batch_size`` per domain, split by rank: samples rank, rank +
world, ...), the DistributedSampler split of dabench's step-indexed streams. Gradients are
averaged over the processes after each backward (one all-reduce of the flattened gradients),
batch-norm statistics follow rank 0 after each step, and the logged losses are means
over all processes. Rank 0 alone evaluates, logs and checkpoints; the checkpoint holds every
rank's RNG state, so a resumed run with the same number of processes is bit-identical to an
uninterrupted one on CPU. NCCL on CUDA (one GPU per process, cuda:LOCAL_RANK), gloo on the CPU.

Batch-dependent terms (batch norm, MMD, CORAL, the adversarial batches) see each process's share,
as under torch's DistributedDataParallel without SyncBatchNorm; results therefore differ from
one process with the same global batch, and ``result.json`` records the process count.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dabench.errors import DabenchError

BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)


@dataclass(frozen=True)
class Group:
    """This process's place among the processes training one run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        return self.rank == 0


def launched() -> Group:
    """The group torchrun started this process in (its RANK, WORLD_SIZE, LOCAL_RANK), or one process alone."""
    return Group(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def join(group: Group, device: torch.device, batch_size: int) -> bool:
    """Join the process group (gloo on the CPU, NCCL on CUDA) unless alone or already in it; True if it joined."""
    if group.world == 1 or dist.is_initialized():
        return False
    if batch_size % group.world:
        raise DabenchError(f"trainer.batch_size={batch_size} does not split over {group.world} processes; use a "
                           f"multiple of {group.world}")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=group.rank, world_size=group.world)
    return True


def leave() -> None:
    """Wait for every process to finish the run (rank 0 evaluates last), then leave the process group ``join``
    joined."""
    dist.barrier()
    dist.destroy_process_group()


def in_place_flat(tensors: list[torch.Tensor], collective) -> None:
    """Run `collective` (an in-place collective of one tensor) on `tensors` as one flat buffer per dtype, and copy
    the result back into them: one call per dtype instead of one per tensor."""
    for dtype in dtypes(tensors):
        same = [t for t in tensors if t.dtype == dtype]
        flat = torch.cat([t.reshape(-1) for t in same])
        collective(flat)
        for tensor, part in zip(same, flat.split([t.numel() for t in same])):
            tensor.copy_(part.view_as(tensor))


def flat_all_reduce(tensors: list[torch.Tensor], op=dist.ReduceOp.SUM) -> None:
    """All-reduce `tensors` in place (``in_place_flat``)."""
    in_place_flat(tensors, lambda flat: dist.all_reduce(flat, op=op))


def average_gradients(optimizer: torch.optim.Optimizer, world: int) -> None:
    """Replace each gradient of `optimizer`'s parameters by its mean over the `world` processes."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    flat_all_reduce(grads)
    if grads:
        torch._foreach_div_(grads, world)


def follow_leader(module: torch.nn.Module, everything: bool = False) -> None:
    """Copy rank 0's batch-norm statistics into every process's `module` (with `everything`: all parameters and
    buffers). Other buffers, such as a method's per-sample memory, stay each process's own: rank 0's copy lacks
    the samples the other processes saw."""
    if everything:
        tensors = [p.data for p in module.parameters()] + list(module.buffers())
    else:
        norms = [m for m in module.modules() if isinstance(m, BATCH_NORMS)]
        tensors = [b for m in norms for b in m.buffers()]
    in_place_flat(tensors, lambda flat: dist.broadcast(flat, src=0))


def dtypes(tensors: list[torch.Tensor]) -> list[torch.dtype]:
    """The dtypes of `tensors`, in the same order in every process (a set's order differs between processes)."""
    return sorted({t.dtype for t in tensors}, key=str)


def gather(obj, group: Group) -> list:
    """[obj of rank 0, obj of rank 1, ...]: a picklable object from every process."""
    if group.world == 1:
        return [obj]
    gathered = [None] * group.world
    dist.all_gather_object(gathered, obj)
    return gathered
