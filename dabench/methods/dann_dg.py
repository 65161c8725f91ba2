"""DANN for domain generalization: one discriminator over the training domains (Ganin et al.,
JMLR 2016; as DomainBed runs it, Gulrajani & Lopez-Paz, ICLR 2021).

No target data (``unseen_target``). A discriminator behind a gradient reversal layer predicts
which training domain each source sample came from (cross-entropy over the N sources); the
features learn to hide it:

  L = CE(y) + trade_off * CE(D(GRL_lambda(f)), domain),

lambda_p = 2 / (1 + exp(-gamma p)) - 1 as in ``dann``. DomainBed alternates discriminator and
generator steps instead of reversing the gradient; the reversal keeps this one step, like dann.
"""
import torch.nn.functional as F

from dabench.losses.adversarial import DomainDiscriminator, grad_reverse, reversal_coefficient
from dabench.methods.base import METHODS, Method, groups


@METHODS.register("dann_dg")
class DANNDG(Method):
    uses_target, needs_several_sources = False, True

    def __init__(self, trade_off: float = 1.0, hidden: int = 1024, gamma: float = 10.0):
        super().__init__()
        self.trade_off, self.hidden, self.gamma = trade_off, hidden, gamma

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.steps = steps
        self.discriminator = DomainDiscriminator(model.feature_dim, self.hidden, outputs=self.num_sources)

    def loss(self, s, t, progress):
        out = self.model(s.x)
        coefficient = reversal_coefficient(progress, self.steps, self.gamma)
        domain_logits = self.discriminator(grad_reverse(out.features, coefficient))
        return {"cls": F.cross_entropy(out.logits, s.y),
                "adv": self.trade_off * F.cross_entropy(domain_logits.float(), s.domain)}

    def param_groups(self, backbone_lr_mult):
        head = [*self.model.head_parameters(), *self.discriminator.parameters()]
        return groups((self.model.backbone.parameters(), backbone_lr_mult), (head, 1.0))
