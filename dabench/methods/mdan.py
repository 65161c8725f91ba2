"""MDAN: Multiple Source Domain Adaptation with Adversarial Learning. Zhao, Zhang, Wu, Moura,
Costeira & Gordon, NeurIPS 2018 ("Adversarial Multiple Source Domain Adaptation"), arXiv:1705.09684.

Multi-source DA (several ``source`` domains). One domain discriminator D_i per source, each
telling source i from the target behind a gradient reversal layer (constant coefficient 1).
With CE_i the classification loss on source i and A_i = BCE(D_i(f_i), 1) + BCE(D_i(f_T), 0) its
domain loss, the soft version (the authors' "dynamic" mode, Eq. 5) minimises

  L = 1/gamma log sum_i exp(gamma (CE_i + mu A_i)),

a smooth maximum over sources that trains hardest on the worst one. gamma 10 and mu 0.01 are
the authors' code defaults; the discriminators are DANN's (``DomainDiscriminator``).
"""
import torch
import torch.nn.functional as F
from torch import nn

from dabench.losses.adversarial import DomainDiscriminator, grad_reverse
from dabench.methods.base import METHODS, Method, groups


@METHODS.register("mdan")
class MDAN(Method):
    needs_several_sources = True

    def __init__(self, gamma: float = 10.0, mu: float = 0.01, hidden: int = 1024):
        super().__init__()
        self.gamma, self.mu, self.hidden = gamma, mu, hidden

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.discriminators = nn.ModuleList(DomainDiscriminator(model.feature_dim, self.hidden)
                                            for _ in range(self.num_sources))

    def loss(self, s, t, progress):
        out_s, out_t = self.forward_pair(s.x, t.x)
        features_s, features_t = grad_reverse(out_s.features, 1.0), grad_reverse(out_t.features, 1.0)
        per_source = []
        for discriminator, features_d, logits_d, y_d in zip(self.discriminators, s.per_domain(features_s),
                                                             s.per_domain(out_s.logits), s.per_domain(s.y)):
            logits_s, logits_t = discriminator(features_d).squeeze(1), discriminator(features_t).squeeze(1)
            # the mean over source i plus the mean over the target, as the authors add the two NLLs
            adv = (F.binary_cross_entropy_with_logits(logits_s.float(), torch.ones_like(logits_s, dtype=torch.float))
                   + F.binary_cross_entropy_with_logits(logits_t.float(), torch.zeros_like(logits_t, dtype=torch.float)))
            per_source.append(F.cross_entropy(logits_d, y_d) + self.mu * adv)
        return {"mdan": torch.logsumexp(self.gamma * torch.stack(per_source), dim=0) / self.gamma}

    def param_groups(self, backbone_lr_mult):
        head = [*self.model.head_parameters(), *self.discriminators.parameters()]
        return groups((self.model.backbone.parameters(), backbone_lr_mult), (head, 1.0))
