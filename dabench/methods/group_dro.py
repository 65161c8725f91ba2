"""GroupDRO: Distributionally Robust Neural Networks for Group Shifts. Sagawa, Koh, Hashimoto &
Liang, ICLR 2020, arXiv:1911.08731 (Algorithm 1), as DomainBed runs it for domain generalization.

No target data (``unseen_target``); the run's sources are the groups. Each step raises the
weight of the worse groups by exponentiated gradient ascent and descends the weighted risk:

  q_g <- q_g exp(eta * CE_g) / Z,   L = sum_g q_g CE_g.

q starts uniform and is a buffer (resume-safe); eta = 0.01, DomainBed's default.
"""
import torch
import torch.nn.functional as F

from dabench.methods.base import METHODS, Method


@METHODS.register("group_dro")
class GroupDRO(Method):
    uses_target, needs_several_sources = False, True

    def __init__(self, eta: float = 0.01):
        super().__init__()
        self.eta = eta

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.register_buffer("group_weight", torch.full((self.num_sources,), 1.0 / self.num_sources))

    def loss(self, s, t, progress):
        logits = self.model(s.x).logits
        risks = torch.stack([F.cross_entropy(logits_d, y_d) for logits_d, y_d in zip(s.per_domain(logits),
                                                                                     s.per_domain(s.y))])
        weight = self.group_weight * torch.exp(self.eta * risks.detach().float())
        self.group_weight.copy_(weight / weight.sum())
        return {"cls": (self.group_weight * risks).sum()}
