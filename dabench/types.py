"""The two values that flow between data, model and methods."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """One mini-batch, already on the training device.

    x: inputs, (N, ...) float32.
    y: class indices, (N,) int64; None for unlabeled target batches, which are
       built from a tensor that never held the labels.
    idx: positions of the samples in their split, (N,) int64 (for memory banks).
    domain: source index of each sample, (N,) int64, in multi-source runs (each batch holds every
       source); None otherwise.
    domain_sizes: with ``domain``, how many samples of each source the batch holds, sources in order
       and each one's samples together, so ``per_domain`` splits without reading ``domain`` on the host.
    """

    x: Tensor
    y: Tensor | None
    idx: Tensor
    domain: Tensor | None = None
    domain_sizes: tuple[int, ...] | None = None

    def per_domain(self, values: Tensor) -> tuple[Tensor, ...]:
        """(N, ...) values aligned with the batch -> one (n_d, ...) slice per source d."""
        return values.split(self.domain_sizes)


@dataclass(frozen=True)
class Outputs:
    """Model outputs: features (N, d) after the bottleneck and logits (N, C)."""

    features: Tensor
    logits: Tensor

    def __getitem__(self, rows: slice) -> "Outputs":
        return Outputs(self.features[rows], self.logits[rows])
