"""The transfer data module: source train/val, unlabeled target train, target test.

Small datasets sit on the training device as tensors; image datasets are ``ImageFiles``
decoded on demand (by worker processes). Either way batches are drawn by step number: the
batch at step k depends only on (seed, stream, k), so a run resumed at step k sees exactly
the batches an uninterrupted run would, with no loader state to save.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor

from dabench.data.base import DomainDataset
from dabench.data.files import HiddenImages, ImageFiles, StepReader
from dabench.data.splits import drawn_indices, split_folders
from dabench.errors import DabenchError
from dabench.types import Batch


class BatchOrder:
    """Which samples batch `step` of an endless stream holds: epoch e visits the n samples in randperm seeded
    by (seed, e), `batch_size` at a time (the last incomplete batch of an epoch dropped); this process takes
    samples rank, rank + world, ... of each batch (data-parallel training, dabench.distributed)."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 device: torch.device = torch.device("cpu")):
        self.n, self.batch_size, self.seed, self.rank, self.world, self.device = n, batch_size, seed, rank, world, device
        self.batches_per_epoch = n // batch_size
        self._epoch, self._order, self._device_order = -1, None, None

    def _share(self, order: Tensor, step: int) -> Tensor:
        position = step % self.batches_per_epoch
        return order[position * self.batch_size:(position + 1) * self.batch_size][self.rank::self.world]

    def indices(self, step: int) -> Tensor:
        """The (B / world,) sample indices of this process's part of batch `step`, on the CPU."""
        epoch = step // self.batches_per_epoch
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.n, generator=generator)
            self._device_order = None
        return self._share(self._order, step)

    def on_device(self, step: int) -> Tensor:
        """``indices(step)`` on the stream's device."""
        self.indices(step)
        if self._device_order is None:
            # Copied once per epoch: a copy from pageable memory per step would wait for the GPU every step.
            order = self._order.pin_memory() if self.device.type == "cuda" else self._order
            self._device_order = order.to(self.device, non_blocking=True)
        return self._share(self._device_order, step)

    def __getstate__(self):  # loader workers need the CPU order only
        return {**self.__dict__, "_device_order": None}


class InfiniteBatches:
    """Endless shuffled mini-batches in a ``BatchOrder``.

    Args:
        x: (N, ...) inputs, a tensor or ImageFiles (read in their training view);
        y: (N,) labels, or None for unlabeled data.
        batch_size: B; the last incomplete batch of each epoch is dropped (if N >= B).
        seed: fixes the order of every epoch (and the image augmentations).
        positions: (N,) optional; a batch's ``idx`` is positions[sample index] instead of the
            sample index (target batches: ``TransferData.target_positions``).
        rank, world: in data-parallel training (dabench.distributed), this process takes samples
            rank, rank + world, ... of each batch, and augments them with its own seed.
    """

    def __init__(self, x, y: Tensor | None, batch_size: int, seed: int, positions: Tensor | None = None,
                 rank: int = 0, world: int = 1):
        self.x, self.y = x, y
        self.positions = None if positions is None else positions.to(x.device)
        self.order = BatchOrder(len(x), min(batch_size, len(x)), seed, rank, world, x.device)
        self.read = (StepReader(x.training_view(), self.order.indices, seed + 1_000_033 * rank)
                     if isinstance(x, ImageFiles) else None)

    def batch(self, step: int) -> Batch:
        idx = self.order.on_device(step)
        x = self.read(step, idx) if self.read else self.x[idx]
        return Batch(x, None if self.y is None else self.y[idx],
                     idx if self.positions is None else self.positions[idx])


class MultiSourceBatches:
    """Batches that hold every source domain: batch k concatenates batch k of one ``InfiniteBatches``
    per source, each of B // n_sources samples (the first B mod n_sources sources draw one more),
    and carries ``domain``, each sample's source index.

    Args:
        x, y: (N, ...) inputs and (N,) labels of all sources; domain: (N,) source index of each sample.
        batch_size: B; seed: fixes every source's order (source d draws with seed + 15485863 d).
    """

    def __init__(self, x, y: Tensor, domain: Tensor, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        n_sources = int(domain.max()) + 1
        self.streams = []
        for d in range(n_sources):
            members = (domain == d).nonzero().flatten()
            size = batch_size // n_sources + (d < batch_size % n_sources)
            self.streams.append(InfiniteBatches(take(x, members), y[members], size, seed + 15_485_863 * d,
                                                members, rank, world))

    def batch(self, step: int) -> Batch:
        parts = [stream.batch(step) for stream in self.streams]
        domain = torch.cat([torch.full_like(part.y, d) for d, part in enumerate(parts)])
        return Batch(torch.cat([part.x for part in parts]), torch.cat([part.y for part in parts]),
                     torch.cat([part.idx for part in parts]), domain, tuple(len(part.y) for part in parts))


def source_batches(split: LabeledSplit, batch_size: int, seed: int, rank: int = 0, world: int = 1):
    """The source train stream: ``InfiniteBatches``, or ``MultiSourceBatches`` for several sources."""
    if split.domain is None:
        return InfiniteBatches(split.x, split.y, batch_size, seed, rank=rank, world=world)
    return MultiSourceBatches(split.x, split.y, split.domain, batch_size, seed, rank, world)


# The ``source`` of a task-adaptation run: no source domain, a pretrained model fine-tuned on target labels.
NO_SOURCE = "none"


def source_domains(source: str) -> list[str]:
    """The domains of a run's ``source``: one name, several joined by "+" (multi-source DA), or none
    (task adaptation, ``source: none``)."""
    return [] if source == NO_SOURCE else source.split("+")


@dataclass
class LabeledSplit:
    """Inputs (N, ...) and labels (N,) of a split; with several sources, ``domain`` (N,) is each
    sample's source index (the position of its domain in the ``source`` list), else None."""

    x: Tensor | ImageFiles
    y: Tensor
    domain: Tensor | None = None


class TransferData:
    """What a transfer run reads, built from a dataset and a (source, target) pair.

    - ``source_train``: labeled; ``source_val``: a held-out part of the source train data
      (fraction `val_fraction`, drawn with the fixed seed 0 so all runs share it). With several
      sources (multi-source DA: ``source`` "mnist+usps+svhn"), the sources' train splits one after
      the other, each sample's source index in ``domain``.
    - ``target_train``: inputs only, (N, ...): the labels are dropped here, before any
      tensor reaches the trainer, so target-train batches carry ``y=None``.
    - ``target_inputs``: what a method is handed (``Method.begin``): the target train inputs in
      a fixed shuffled order, as a tensor or as HiddenImages (no file paths: they name the
      class folder). A target batch's ``idx`` is the position of its samples in that order
      (``target_positions``), never the dataset's own order, which is often sorted by class.
    - ``target_labeled``: None, or with ``target_labeled=k`` (semi-supervised DA) k labeled
      samples per class drawn from the target train split with `label_seed` (0 unless the config's
      ``target_labeled_draw`` is per_seed). On a
      transductive dataset they are removed from ``target_test``, so they are never scored.
    - ``target_test``: read only by evaluation; ``target_test_is_train`` when its inputs are the
      target train inputs in the same order (a transductive protocol), so they are predicted once.
    - ``target_classes``: None, or the classes the target domain keeps (indices or class names):
      target train and test hold only samples of those classes (partial DA when the source
      keeps all of them).
    - ``source_classes``: None, or the classes the source domain keeps, the *known* classes
      (open-set DA; universal DA when ``target_classes`` also drops some). The model then has
      K = len(source_classes) outputs, labels are renumbered 0..K-1 in the order of the sorted
      list, and target samples of any other class are labelled K, "unknown"
      (``unknown_label``); ``metric`` becomes "h_score" (dabench.evaluate.open_set_scores),
      and a method without an unknown output of its own predicts unknown when its top softmax
      probability is below ``unknown_threshold``.
    - task adaptation (``source`` none): ``source_train`` is the target's label budget, `target_labeled`
      per class or `target_label_fraction` of each class, drawn with `label_seed` (``label_budget``);
      ``source_val``, ``target_train`` and ``target_inputs`` are empty.

    Both selections read the target labels here, in the data module, as the benchmark defines
    the target domain; the trainer still never sees one.
    - ``unseen_target`` (domain generalization): the target train split is not read; ``target_train``
      and ``target_inputs`` are empty, and training draws no target batch.
    """

    def __init__(self, dataset: DomainDataset, source: str, target: str, val_fraction: float = 0.1,
                 device: str | torch.device = "cpu", target_labeled: int = 0,
                 target_classes: list[int | str] | None = None, source_classes: list[int | str] | None = None,
                 unknown_threshold: float = 0.5, unseen_target: bool = False,
                 target_label_fraction: float | None = None, label_seed: int = 0):
        for domain in [*source_domains(source), target]:
            dataset.check_domain(domain)
        source_classes = class_indices(source_classes, dataset, "source_classes")
        target_classes = class_indices(target_classes, dataset, "target_classes")
        relabel = known_labels(source_classes)
        self.source_domains = source_domains(source)
        self.task_adaptation = source == NO_SOURCE
        if self.task_adaptation:  # the labeled stream is the target's own label budget; no source, no val split
            x_pool, y_pool = keep_classes(*dataset.load(target, "train").tensors, target_classes)
            budget = label_budget(dataset, target, y_pool, target_labeled, target_label_fraction, label_seed)
            parts, val_fraction = [(take(x_pool, budget), y_pool[budget])], 0.0
        else:
            parts = [keep_classes(*dataset.load(domain, "train").tensors, source_classes)
                     for domain in self.source_domains]
        x_s, y_s = concat([x for x, _ in parts]), relabel(torch.cat([y for _, y in parts]))
        d_s = torch.cat([torch.full((len(y),), d) for d, (_, y) in enumerate(parts)]) if len(parts) > 1 else None
        n_val = int(round(val_fraction * len(x_s)))
        order = torch.randperm(len(x_s), generator=torch.Generator().manual_seed(0))
        val, train = order[:n_val], order[n_val:]
        if not len(train):
            raise DabenchError(f"val_fraction={val_fraction} holds out all {len(x_s)} source training samples as "
                               f"source_val, and none is left to train on; use a smaller val_fraction (0.1 is "
                               f"the default)")
        self.num_classes = dataset.num_classes if source_classes is None else len(source_classes)
        self.input_shape = tuple(x_s.shape[1:])
        self.source_train = LabeledSplit(take(x_s, train).to(device), y_s[train].to(device),
                                         None if d_s is None else d_s[train].to(device))
        self.source_val = LabeledSplit(take(x_s, val).to(device), y_s[val].to(device),
                                       None if d_s is None else d_s[val].to(device))
        x_test, y_test = keep_classes(*dataset.load(target, "test").tensors, target_classes)
        if self.task_adaptation and dataset.transductive:  # the labeled samples are never scored
            kept = torch.ones(len(x_test), dtype=torch.bool)
            kept[budget] = False
            x_test, y_test = take(x_test, kept.nonzero().flatten()), y_test[kept]
        if unseen_target or self.task_adaptation:  # no unlabeled target stream (DG; task adaptation's labels are s)
            x_t, y_t = take(x_test, torch.arange(0)), y_test[:0]
        else:
            x_t, y_t = keep_classes(*dataset.load(target, "train").tensors, target_classes)
        y_t, y_test = relabel(y_t), relabel(y_test)
        self.unknown_label = self.num_classes
        target_has = set(range(dataset.num_classes) if target_classes is None else target_classes)
        self.open_set = source_classes is not None and bool(target_has - set(source_classes))
        self.metric = "h_score" if self.open_set else dataset.metric
        self.unknown_threshold = unknown_threshold
        self.target_train = x_t.to(device)
        self.target_positions = torch.randperm(len(x_t), generator=torch.Generator().manual_seed(1))
        in_order = take(x_t, self.target_positions.argsort()).to(device)  # sample i at position positions[i]
        self.target_inputs = HiddenImages(in_order) if isinstance(in_order, ImageFiles) else in_order
        self.target_labeled = None
        semi_supervised = target_labeled and not self.task_adaptation
        if semi_supervised and dataset.transductive:
            smallest = int(torch.bincount(y_t, minlength=dataset.num_classes)[y_t.unique()].min())
            if target_labeled >= smallest:
                raise DabenchError(f"target_labeled={target_labeled}: a class of target domain '{target}' has only "
                                   f"{smallest} samples, and the labeled ones leave its test set (transductive "
                                   f"protocol), so none of that class would be tested; use target_labeled <= "
                                   f"{max(smallest - 1, 0)}")
        if semi_supervised:
            chosen = few_per_class(y_t, target_labeled, self.num_classes, label_seed)  # known classes only
            self.target_labeled = LabeledSplit(take(x_t, chosen).to(device), y_t[chosen].to(device))
            if dataset.transductive:
                kept = torch.ones(len(x_test), dtype=torch.bool)
                kept[chosen] = False
                x_test, y_test = take(x_test, kept.nonzero().flatten()), y_test[kept]
        self.target_test = LabeledSplit(x_test.to(device), y_test.to(device))
        # A transductive target's test inputs are its train inputs: evaluation then predicts them once.
        self.target_test_is_train = same_inputs(x_t, x_test)
        self.sizes = {"source_train": len(train), "source_val": n_val, "target_train": len(self.target_train),
                      "target_labeled": 0 if self.target_labeled is None else len(self.target_labeled.y),
                      "target_test": len(y_test)}
        if self.task_adaptation:  # the labeled stream holds target samples: say so in every result
            self.sizes.update(source_train=0, target_labeled=len(train))


def class_indices(classes: list[int | str] | None, dataset: DomainDataset, key: str = "target_classes"
                  ) -> list[int] | None:
    """The sorted class indices of a ``target_classes`` or ``source_classes`` (`key`) list of indices
    or class names (None: all)."""
    if classes is None:
        return None
    names = list(getattr(dataset, "class_names", None) or [])
    indices = []
    for c in classes:
        if isinstance(c, str) and c not in names:
            known = f"its classes: {', '.join(names)}" if names else "it has no class names; give indices"
            raise DabenchError(f"{key}: dataset '{dataset.name}' has no class '{c}'; {known}")
        indices.append(names.index(c) if isinstance(c, str) else c)
    if len(set(indices)) != len(indices) or min(indices) < 0 or (dataset.num_classes and max(indices) >= dataset.num_classes):
        raise DabenchError(f"{key} {classes}: list distinct classes of dataset '{dataset.name}', indices "
                           f"0..{dataset.num_classes - 1}")
    return sorted(indices)


def known_labels(known: list[int] | None):
    """The relabelling of open-set DA: y -> its position in the sorted `known` list, or len(known)
    ("unknown") for any other class; the identity when `known` is None."""
    if known is None:
        return lambda y: y
    known = torch.tensor(known)
    return lambda y: torch.where(torch.isin(y, known), torch.searchsorted(known, y), len(known))


def keep_classes(x, y: Tensor, classes: list[int] | None) -> tuple:
    """(x, y) restricted to the samples whose label is in `classes` (None: all), order kept."""
    if classes is None:
        return x, y
    kept = torch.isin(y, torch.tensor(classes)).nonzero().flatten()
    return take(x, kept), y[kept]


def few_per_class(labels: Tensor, k: int, num_classes: int, seed: int = 0) -> Tensor:
    """Indices of k samples per class (all of a class when it has fewer), drawn with `seed` (semi-supervised DA
    uses the fixed seed 0, so every seed of a table adapts with the same labeled samples)."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    return torch.cat([order[labels[order] == c][:k] for c in range(num_classes)]).sort().values


def fraction_per_class(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """Indices of round(fraction * n_c) samples of each class c (at least one), drawn with `seed`: TLlib's
    ``sample_rate`` of the fine-grained task-adaptation benchmarks (15 %, 30 %, 50 %, 100 %)."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    members = [order[labels[order] == c] for c in labels.unique().tolist()]
    return torch.cat([m[:max(1, round(fraction * len(m)))] for m in members]).sort().values


def label_budget(dataset: DomainDataset, domain: str, labels: Tensor, per_class: int, fraction: float | None,
                 seed: int) -> Tensor:
    """Task adaptation: the (n,) indices into `labels` (a target train split) whose labels training may read,
    `per_class` per class or a `fraction` of each class, drawn per seed and kept in a split file (see
    ``splits.drawn_indices``) so that every method of a table trains on the same samples."""
    counts = torch.bincount(labels)
    smallest = int(counts[counts > 0].min())
    # On a transductive dataset the labeled samples leave the test set: a class must keep one to be tested.
    largest = smallest - 1 if dataset.transductive else smallest
    if per_class > largest:
        raise DabenchError(f"target_labeled={per_class}: a class of target domain '{domain}' has only {smallest} "
                           f"train samples{' (transductive: the labeled ones leave its test set)' if dataset.transductive else ''}; "
                           f"use target_labeled <= {largest}, or target_label_fraction")
    if fraction is not None and dataset.transductive and any(round(fraction * int(n)) >= n for n in counts[counts > 0]):
        raise DabenchError(f"target_label_fraction={fraction:g}: domain '{domain}' is transductive (its labeled samples "
                           f"leave the test set), and this fraction labels a whole class, leaving none of it to test; "
                           f"use a smaller fraction or target_labeled <= {largest}")
    budget = f"{per_class}pc" if per_class else f"{round(fraction * 100)}pct"
    # The labels' digest names the file: another split of the domain (dataset options) draws its own.
    fingerprint = hashlib.sha256(labels.numpy().tobytes()).hexdigest()[:12]
    name = f"{domain}-labeled{budget}-seed{seed}-{fingerprint}.txt"
    header = (f"# task adaptation: {per_class} labels per class" if per_class else
              f"# task adaptation: {fraction:g} of each class's labels") + f", drawn with torch seed {seed}"
    draw = ((lambda: few_per_class(labels, per_class, len(counts), seed)) if per_class else
            (lambda: fraction_per_class(labels, fraction, seed)))
    return drawn_indices(split_folders(dataset), name, len(labels), draw, header)


def concat(xs: list):
    """Tensors, or ImageFiles of one dataset (one image policy), one after the other."""
    if len(xs) == 1:
        return xs[0]
    if isinstance(xs[0], ImageFiles):
        return ImageFiles.concat(xs)
    return torch.cat(xs)


def same_inputs(x, other) -> bool:
    """Whether two splits hold the same inputs in the same order (the same files, or equal tensors)."""
    if isinstance(x, ImageFiles) or isinstance(other, ImageFiles):
        return isinstance(x, ImageFiles) and isinstance(other, ImageFiles) and x.paths == other.paths
    return x.shape == other.shape and torch.equal(x, other)


def take(x, idx: Tensor):
    """Rows `idx` of a tensor, or the ImageFiles view of those files (nothing decoded)."""
    return x.select(idx) if isinstance(x, ImageFiles) else x[idx]
