"""IRM: Invariant Risk Minimization. Arjovsky, Bottou, Gulrajani & Lopez-Paz, 2019, arXiv:1907.02893.

Domain generalization (``unseen_target``; the run's sources are the training environments).
IRMv1's penalty is the squared gradient of each environment's risk with respect to a dummy
classifier scale w = 1 (Eq. 3), estimated without bias from the two halves of its batch, as
DomainBed does:

  L = mean_e CE_e + lambda * mean_e (d CE_e(odd) / dw) * (d CE_e(even) / dw),

lambda = 1 for the first `anneal_iters` steps, then `penalty_weight` (DomainBed's defaults: 100
after 500 steps). Once lambda > 1 the whole loss is divided by lambda, as in the IRM authors'
Colored MNIST code, so that the gradient keeps its scale when lambda jumps: with SGD at the
recipes' learning rates the undivided loss diverges within steps (DomainBed instead resets its
Adam state at the jump).
"""
import torch
import torch.nn.functional as F

from dabench.methods.base import METHODS, Method


def irm_penalty(logits, labels):
    """(d CE(odd half) / dw) (d CE(even half) / dw) at w = 1 for logits * w; logits (N, C), labels (N,)."""
    scale = torch.ones((), device=logits.device, requires_grad=True)
    grad_odd = torch.autograd.grad(F.cross_entropy(logits[::2] * scale, labels[::2]), scale, create_graph=True)[0]
    grad_even = torch.autograd.grad(F.cross_entropy(logits[1::2] * scale, labels[1::2]), scale, create_graph=True)[0]
    return grad_odd * grad_even


@METHODS.register("irm")
class IRM(Method):
    uses_target, needs_several_sources = False, True

    def __init__(self, penalty_weight: float = 100.0, anneal_iters: int = 500):
        super().__init__()
        self.penalty_weight, self.anneal_iters = penalty_weight, anneal_iters

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.steps = steps

    def loss(self, s, t, progress):
        logits = self.model(s.x).logits.float()
        domains = list(zip(s.per_domain(logits), s.per_domain(s.y)))
        risk = sum(F.cross_entropy(logits_d, y_d) for logits_d, y_d in domains) / len(domains)
        penalty = sum(irm_penalty(logits_d, y_d) for logits_d, y_d in domains) / len(domains)
        weight = self.penalty_weight if round(progress * self.steps) >= self.anneal_iters else 1.0
        scale = max(weight, 1.0)
        return {"cls": risk / scale, "irm": weight * penalty / scale}
