"""PADA: Partial Adversarial Domain Adaptation. Cao, Ma, Long & Wang, ECCV 2018, arXiv:1808.04205.

Partial DA (the target holds a subset of the source classes; ``target_classes`` in the run
config). The class weights gamma (C,) are the mean softmax prediction over the whole unlabeled
target train set, divided by their largest entry; source samples are weighted by gamma of their
class in both the classification and the domain-adversarial loss (Eq. 7), so the source-only
classes, which the target rarely predicts, fade out of the alignment:

  L = mean_i gamma_{y_i} CE(x_i) + trade_off * BCE_w(D(GRL(f_s)), 1; D(GRL(f_t)), 0).

gamma starts at 1 (DANN) and is recomputed every `refresh_every` steps (500 in the authors'
code), in eval mode; it is a buffer, so a resumed run continues with the same weights. The
discriminator and reversal schedule are DANN's (``DomainAdversarial``).
"""
import torch
import torch.nn.functional as F

from dabench.data.files import chunks
from dabench.losses.terms import DomainAdversarial
from dabench.methods.base import METHODS, Method


@METHODS.register("pada")
class PADA(Method):
    def __init__(self, trade_off: float = 1.0, refresh_every: int = 500, hidden: int = 1024, gamma: float = 10.0):
        super().__init__()
        self.trade_off, self.refresh_every, self.hidden, self.gamma = trade_off, refresh_every, hidden, gamma

    def terms(self):
        return {"adv": (self.trade_off, DomainAdversarial(self.hidden, self.gamma))}

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.steps = steps
        self.register_buffer("class_weight", torch.ones(num_classes))
        self.register_buffer("refreshed_at", torch.tensor(0))

    def begin(self, source, target_inputs):
        self.target_inputs = target_inputs

    @torch.no_grad()
    def refresh_class_weight(self) -> None:
        was_training = self.training
        self.eval()
        probs = torch.cat([self.model(chunk).logits.float().softmax(dim=1) for chunk in chunks(self.target_inputs, 1024)])
        self.train(was_training)
        mean = probs.mean(dim=0)
        self.class_weight = (mean / mean.max()).to(self.class_weight)

    def loss(self, s, t, progress):
        interval = round(progress * self.steps) // self.refresh_every
        if self.refresh_due(interval):
            self.refresh_class_weight()
        out_s, out_t = self.forward_pair(s.x, t.x)
        weight = self.class_weight[s.y]
        cls = (F.cross_entropy(out_s.logits, s.y, reduction="none") * weight).mean()
        return {"cls": cls, "adv": self.trade_off * self.alignment["adv"](out_s, out_t, progress, source_weight=weight)}
