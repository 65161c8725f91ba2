"""RoTTA: Robust Test-Time Adaptation in Dynamic Scenarios. Yuan, Xie & Li, CVPR 2023, arXiv:2303.13899.

Built for streams whose classes arrive in bursts (non-i.i.d.) while the domain drifts:
- Robust batch normalisation (Sec. 3.2): every batch-norm layer normalises with global statistics,
  moved towards each training batch's by `statistics_momentum` (0.05): mu <- (1 - a) mu + a mu_batch,
  the same for the variance; at prediction time it uses them as they are.
- A category-balanced memory bank (CSTU, Sec. 3.3) of `memory_size` (64) samples: each arriving sample
  enters with its teacher pseudo-label, its uncertainty (the teacher's entropy) and age 0, and every
  sample ages by one per arrival. A sample's score is lambda_t / (1 + exp(-age / size)) +
  lambda_u * entropy / ln C (lambda_t = lambda_u = 1): old and uncertain samples go first. A sample whose
  class holds fewer than size / C enters, evicting (when the bank is full) the highest-scored member of the
  fullest classes; otherwise it enters only by evicting a member of its own class that scores higher.
- Every `update_every` (64) arrivals, the student learns from the teacher on the whole bank (Sec. 3.4):
  the loss is the mean over the bank of w(age) * CE(teacher(x), student(augmented x)), with the timeliness
  weight w = exp(-age / size) / (1 + exp(-age / size)), one Adam step (lr 1e-3) on the normalisation
  layers' scales and shifts; the teacher follows, theta' <- (1 - nu) theta' + nu theta (nu 0.001). The
  augmentation is CoTTA's (`dabench.stream.base.augment_images`; `flip: false` for digits, `augment:
  false` for inputs that are not images).
The scored predictions are the teacher's on the arriving batch, with the robust statistics as they are.
Updates the robust batch-norm affine parameters of a student (its teacher follows) and both models'
statistics; keeps student, teacher, the bank and Adam's moments.
"""
import copy
import math

import torch
from torch import Tensor, nn, optim
from torch.nn.modules.batchnorm import _BatchNorm

from dabench.losses.target import logit_entropies
from dabench.stream.base import STREAM_METHODS, StreamMethod, augment_images, require_images


class RobustBatchNorm(nn.Module):
    """A batch-norm layer's scales and shifts with global statistics that each training batch moves by
    `momentum`; inputs (N, C) or (N, C, ...)."""

    def __init__(self, norm: _BatchNorm, momentum: float):
        super().__init__()
        self.momentum, self.eps = momentum, norm.eps
        self.weight, self.bias = norm.weight, norm.bias
        self.register_buffer("mean", norm.running_mean.detach().clone())
        self.register_buffer("var", norm.running_var.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        mean, var = self.mean, self.var
        if self.training:
            batch_var, batch_mean = torch.var_mean(x, dim=[0, *range(2, x.dim())], unbiased=False)
            mean = (1 - self.momentum) * mean + self.momentum * batch_mean
            var = (1 - self.momentum) * var + self.momentum * batch_var
            self.mean.copy_(mean.detach())
            self.var.copy_(var.detach())
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.weight is not None else y


def use_robust_batch_norm(model: nn.Module, momentum: float) -> list[nn.Parameter]:
    """Replace every batch-norm layer of `model` by a RobustBatchNorm; freeze every other weight; returns the
    trainable scales and shifts."""
    model.requires_grad_(False)
    for name, module in list(model.named_modules()):
        if isinstance(module, _BatchNorm):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, RobustBatchNorm(module, momentum))
    params = [p for m in model.modules() if isinstance(m, RobustBatchNorm) for p in (m.weight, m.bias)
              if p is not None]
    for p in params:
        p.requires_grad_(True)
    return params


class MemoryBank:
    """CSTU: a category-balanced bank of `size` samples ranked by age and uncertainty. `entries[c]` holds class c's
    samples as (input, entropy in nats, arrival number); `arrivals` counts every sample offered."""

    def __init__(self, size: int, num_classes: int, lambda_t: float = 1.0, lambda_u: float = 1.0):
        self.size, self.num_classes, self.lambda_t, self.lambda_u = size, num_classes, lambda_t, lambda_u
        self.entries: list[list[tuple[Tensor, float, int]]] = [[] for _ in range(num_classes)]
        self.arrivals = 0

    def score(self, age: int, entropy: float) -> float:
        return (self.lambda_t / (1 + math.exp(-age / self.size))
                + self.lambda_u * entropy / math.log(self.num_classes))

    def evict(self, classes: list[int], newcomer: float) -> bool:
        """Remove the highest-scored sample of `classes` if it scores above `newcomer`; whether there is room."""
        ranked = [(self.score(self.arrivals - arrival, entropy), c, i) for c in classes
                  for i, (_, entropy, arrival) in enumerate(self.entries[c])]
        if not ranked:
            return True
        worst, c, i = max(ranked, key=lambda r: r[0])  # ties: the first found, as the authors' loop
        if worst <= newcomer:
            return False
        self.entries[c].pop(i)
        return True

    def add(self, x: Tensor, label: int, entropy: float) -> None:
        counts = [len(e) for e in self.entries]
        newcomer = self.score(0, entropy)
        if counts[label] < self.size / self.num_classes:
            fullest = [c for c, n in enumerate(counts) if n == max(counts)]
            room = sum(counts) < self.size or self.evict(fullest, newcomer)
        else:
            room = self.evict([label], newcomer)
        if room:
            self.entries[label].append((x, entropy, self.arrivals))
        self.arrivals += 1

    def contents(self) -> tuple[Tensor, Tensor]:
        """(inputs (M, ...), ages (M,)) of the bank's samples, class by class."""
        members = [entry for entries in self.entries for entry in entries]
        return (torch.stack([x for x, _, _ in members]),
                torch.tensor([float(self.arrivals - arrival) for _, _, arrival in members]))


@STREAM_METHODS.register("rotta")
class RoTTA(StreamMethod):
    """Robust batch norm, a category-balanced memory bank and a timeliness-weighted mean teacher."""

    updates = "robust batch-norm affine parameters of a student (its moving-average teacher predicts)"
    keeps = "student, teacher, their normalisation statistics, the memory bank and Adam's moments"
    kept_attributes = ("memory_state",)

    def __init__(self, lr: float = 1e-3, memory_size: int = 64, update_every: int = 64, nu: float = 0.001,
                 statistics_momentum: float = 0.05, lambda_t: float = 1.0, lambda_u: float = 1.0,
                 augment: bool = True, flip: bool = True):
        super().__init__()
        self.lr, self.memory_size, self.update_every, self.nu = lr, memory_size, update_every, nu
        self.statistics_momentum, self.lambda_t, self.lambda_u = statistics_momentum, lambda_t, lambda_u
        self.augment, self.flip = augment, flip

    def prepare(self):
        params = use_robust_batch_norm(self.model, self.statistics_momentum)
        self.teacher = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = optim.Adam(params, lr=self.lr, betas=(0.9, 0.999))
        self.memory = MemoryBank(self.memory_size, self.model.classifier.out_features, self.lambda_t, self.lambda_u)

    @property
    def memory_state(self) -> dict:
        """The bank as plain lists and numbers, the form a checkpoint holds."""
        return {"entries": self.memory.entries, "arrivals": self.memory.arrivals}

    @memory_state.setter
    def memory_state(self, state: dict) -> None:
        self.memory.entries, self.memory.arrivals = state["entries"], state["arrivals"]

    def memory_loss(self) -> Tensor:
        """The bank's timeliness-weighted cross-entropy of the student (on augmented inputs) to the teacher."""
        inputs, ages = self.memory.contents()
        self.model.train()
        self.teacher.train()
        with torch.no_grad():
            targets = self.teacher(inputs).logits.softmax(1)
        if self.augment:
            require_images(inputs, "rotta", "set method.augment: false")
            inputs = augment_images(inputs, self.flip)
        student = self.model(inputs).logits.log_softmax(1)
        weights = torch.sigmoid(-ages / self.memory_size)  # exp(-a) / (1 + exp(-a))
        return (weights * -(targets * student).sum(1)).mean()

    def adapt(self, x):
        self.model.eval()
        self.teacher.eval()
        with torch.no_grad():
            logits = self.teacher(x).logits
        for sample, label, uncertainty in zip(x, logits.argmax(1).tolist(), logit_entropies(logits).tolist()):
            self.memory.add(sample.clone(), label, uncertainty)
            if self.memory.arrivals % self.update_every == 0:
                loss = self.memory_loss()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                with torch.no_grad():
                    for teacher, student in zip(self.teacher.parameters(), self.model.parameters()):
                        teacher.mul_(1 - self.nu).add_(student, alpha=self.nu)
        self.model.eval()
        return logits
