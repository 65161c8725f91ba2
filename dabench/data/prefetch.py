"""Batches of files decoded ahead of time by DataLoader worker processes."""
from __future__ import annotations

import torch


class _Reads(torch.utils.data.Dataset):
    """Item k = the k-th batch of images, decoded by `read_batch(k)`; for DataLoader workers."""

    def __init__(self, read_batch):
        self.read_batch = read_batch

    def __getitem__(self, k):
        return self.read_batch(k)


def prefetched(read_batch, keys, workers: int, pin_memory: bool, persistent: bool = False
               ) -> torch.utils.data.DataLoader:
    """Batches read_batch(k) for k in `keys`, decoded ahead of time by `workers` processes (kept alive between
    iterations if `persistent`)."""
    # Its own generator: a DataLoader otherwise draws its workers' seeds from the global RNG, and
    # training (dropout...) would then depend on the number of workers.
    return torch.utils.data.DataLoader(_Reads(read_batch), sampler=keys, batch_size=None, num_workers=workers,
                                       pin_memory=pin_memory, persistent_workers=persistent and workers > 0,
                                       generator=torch.Generator().manual_seed(0))
