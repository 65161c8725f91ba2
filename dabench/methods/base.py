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
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dabench.losses.terms import AlignmentTerm
from dabench.models.model import Model
from dabench.registry import Registry
from dabench.types import Batch, Outputs

METHODS = Registry("method", "dabench.methods")


class Method(nn.Module):
    """Base class: L = CE(source) + sum_k weight_k * term_k(out_s, out_t, progress)."""

    def terms(self) -> dict[str, tuple[float, AlignmentTerm]]:
        """Named (weight, term) pairs; built once in ``build``. Default: none (source only)."""
        return {}

    def build(self, model: Model, num_classes: int) -> None:
        """Attach the model and create the alignment terms' own modules (discriminators...)."""
        self.model = model
        weighted = self.terms()
        self.weights = {name: weight for name, (weight, _) in weighted.items()}
        self.alignment = nn.ModuleDict({name: term for name, (_, term) in weighted.items()})
        for term in self.alignment.values():
            term.build(model.feature_dim, num_classes)

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

    def predict(self, x: Tensor) -> Tensor:
        """Logits (N, C) for evaluation."""
        return self.model(x).logits

    def param_groups(self, backbone_lr_mult: float) -> list[dict]:
        """Optimizer groups; ``lr_mult`` scales the scheduled learning rate (pretrained backbones use < 1)."""
        head = [*self.model.head_parameters(), *self.alignment.parameters()]
        return [{"params": list(self.model.backbone.parameters()), "lr_mult": backbone_lr_mult},
                {"params": head, "lr_mult": 1.0}]
