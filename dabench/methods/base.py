"""Method: a domain-adaptation method is a loss, not a training loop.

A method returns a dictionary of named loss terms, each already multiplied by its
weight; the trainer sums them, backpropagates and steps. Most methods only declare
their alignment terms:

    @METHODS.register("dann")
    class DANN(Method):
        def __init__(self, trade_off: float = 1.0):
            super().__init__()
            self.trade_off = trade_off

        def terms(self):
            return {"adv": (self.trade_off, DomainAdversarial())}

Hyper-parameters are keyword arguments of ``__init__``, stored verbatim; config keys
are checked against that signature, and its defaults are the documented defaults.

Three hooks cover the methods whose step is not one loss (all optional):

- ``optimizers()`` + ``updates()``: several optimiser steps per iteration, each on its own
  parameters (MCD's three steps, ADDA's discriminator/encoder alternation).
- ``source_stage()`` + ``start_from()``: start from a source-only model trained first and
  cached (SHOT, TENT, AdaBN, ADDA, distillation's teacher).
- ``begin()``: see the source train split and the unlabeled target inputs once before training
  (SHOT's clustering; the shallow SKADA methods fit there).
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dabench.data.loaders import LabeledSplit
from dabench.losses.terms import AlignmentTerm
from dabench.models.model import Freezable, Model
from dabench.registry import Registry
from dabench.types import Batch, Outputs

METHODS = Registry("method", "dabench.methods")


class Method(Freezable):
    """Base class: L = CE(source) + sum_k weight_k * term_k(out_s, out_t, progress) [+ CE(labeled target)]."""

    # True for a method fitted once in ``begin`` by a non-gradient estimator (methods/shallow.py): it
    # takes no optimiser step, and its fitted state is refitted on restore rather than loaded.
    fitted_in_begin = False
    # True for a method that only makes sense on pretrained weights (fine_tune, frozen_features): a config
    # whose backbone has no `weights` is refused unless the method's `allow_random_backbone` is set.
    needs_pretrained_backbone = False
    # True for an open-set method whose classifier has an "unknown" output of its own, K + 1 logits
    # (OSBP): a config without `source_classes` (so with no unknown target class) is refused.
    unknown_output = False
    # True for a multi-source method, which reads each source sample's domain (``Batch.domain``): a config
    # with one source is refused.
    needs_several_sources = False
    # The run's number of source domains, set before ``build`` (multi-source methods size their parts by it).
    num_sources = 1
    # False for a method that trains on the sources alone (source_only, the domain-generalization methods):
    # the only kind an ``unseen_target`` run accepts, whose steps receive t=None.
    uses_target = True

    def terms(self) -> dict[str, tuple[float, AlignmentTerm]]:
        """Named (weight, term) pairs; built once in ``build``. Default: none (source only)."""
        return {}

    def build(self, model: Model, num_classes: int, steps: int) -> None:
        """Attach the model and create the alignment terms' own modules (discriminators...); `steps` is
        the run length, for schedules counted in iterations."""
        self.model = model
        weighted = self.terms()
        self.weights = {name: weight for name, (weight, _) in weighted.items()}
        self.alignment = nn.ModuleDict({name: term for name, (_, term) in weighted.items()})
        for term in self.alignment.values():
            term.build(model.feature_dim, num_classes, steps)

    def forward_pair(self, x_s: Tensor, x_t: Tensor) -> tuple[Outputs, Outputs]:
        """One forward pass over [x_s; x_t], so batch norm normalises both domains together."""
        out = self.model(torch.cat([x_s, x_t]))
        n = len(x_s)
        return out[:n], out[n:]

    def loss(self, s: Batch, t: Batch, progress: float) -> dict[str, Tensor]:
        """Named, weighted loss terms for one step; `progress` in [0, 1] is the fraction of training done."""
        out_s, out_t = self.forward_pair(s.x, t.x)
        return {"cls": F.cross_entropy(out_s.logits, s.y), **self.align(out_s, out_t, progress)}

    def align(self, out_s: Outputs, out_t: Outputs, progress: float) -> dict[str, Tensor]:
        return {name: self.weights[name] * term(out_s, out_t, progress) for name, term in self.alignment.items()}

    def outputs(self, x: Tensor) -> Outputs:
        """Features (N, d) and logits (N, C) for evaluation and label-free validation."""
        return self.model(x)

    def predict(self, x: Tensor) -> Tensor:
        """Logits (N, C) for evaluation."""
        return self.outputs(x).logits

    def labeled_target_loss(self, t_labeled: Batch | None) -> dict[str, Tensor]:
        """{"cls_t": CE on the k labeled target samples per class} when ``target_labeled`` > 0, else {}."""
        if t_labeled is None:
            return {}
        return {"cls_t": F.cross_entropy(self.predict(t_labeled.x), t_labeled.y)}

    def updates(self, s: Batch, t: Batch, progress: float, t_labeled: Batch | None = None
                ) -> Iterator[tuple[str, dict[str, Tensor]]]:
        """The optimiser steps of one iteration: yields (optimizer name, loss terms) pairs.

        The trainer backpropagates each yielded sum and steps that optimizer before asking for
        the next pair, so a later pair is computed with the updated weights. Default: one step.
        """
        yield "main", {**self.loss(s, t, progress), **self.labeled_target_loss(t_labeled)}

    def optimizers(self, backbone_lr_mult: float) -> dict[str, list[dict]]:
        """Parameter groups of each optimizer named in ``updates``. Default: one, over everything."""
        return {"main": self.param_groups(backbone_lr_mult)}

    def param_groups(self, backbone_lr_mult: float) -> list[dict]:
        """Optimizer groups; ``lr_mult`` scales the scheduled learning rate (pretrained backbones use < 1)."""
        head = [*self.model.head_parameters(), *self.alignment.parameters()]
        return groups((self.model.backbone.parameters(), backbone_lr_mult), (head, 1.0))

    def source_stage(self) -> dict | None:
        """Config overrides for a source-only first stage this method starts from, or None.

        E.g. ``{"method": {"name": "source_only", "label_smoothing": 0.1}}``. The stage is
        trained once per (dataset, source, model, trainer, seed...) and cached, so a grid of
        targets shares it; ``start_from`` then receives its trained Model.
        """
        return None

    def start_from(self, source_model: Model) -> None:
        """Receive the first stage's trained model (default: copy its weights into ours)."""
        self.model.load_state_dict(source_model.state_dict())

    def refresh_due(self, interval: int) -> bool:
        """Whether a periodic refresh (SHOT's pseudo-labels, PADA's class weights) is due at `interval`, the
        refresh period the step falls in: True once per new interval. The last one is kept in the
        ``refreshed_at`` buffer (so a resumed run refreshes as an uninterrupted one) and on the host, so the
        check costs no device sync; the buffer is read once after a checkpoint load."""
        if getattr(self, "_refreshed_on_host", None) is None:
            self._refreshed_on_host = int(self.refreshed_at)
        if interval == self._refreshed_on_host:
            return False
        self._refreshed_on_host = interval
        self.refreshed_at.fill_(interval)
        return True

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._refreshed_on_host = None  # refresh_due reads the loaded buffer again
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def begin(self, source: LabeledSplit, target_inputs) -> None:
        """Called by the trainer before the first step (and before a resume loads state).

        `source`: the labeled source train split (x, y). `target_inputs`: the unlabeled target train inputs, (N, ...), a tensor or HiddenImages
        (decode with ``dabench.data.files.chunks``); position p is the sample that target batches
        call ``idx == p``. Neither the order nor the object reveals a label.
        """


def groups(*params_and_mults: tuple) -> list[dict]:
    """[(parameters, lr_mult), ...] -> optimizer groups of the trainable parameters, empty ones dropped."""
    out = []
    for params, lr_mult in params_and_mults:
        trainable = [p for p in params if p.requires_grad]
        if trainable:
            out.append({"params": trainable, "lr_mult": lr_mult})
    return out
