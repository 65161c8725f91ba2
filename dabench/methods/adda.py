"""ADDA: Adversarial Discriminative Domain Adaptation. Tzeng et al., CVPR 2017, arXiv:1702.05464.

Stage 1 (shared, cached): a source encoder and classifier trained on source (``source_only``).
Stage 2: a target encoder initialised from the source encoder is trained against a domain
discriminator with the original GAN objective, not a gradient reversal layer (Eq. 9):

  discriminator: BCE(D(M_s(x_s)), 1) + BCE(D(M_t(x_t)), 0), source encoder M_s frozen;
  target encoder: trade_off * BCE(D(M_t(x_t)), 1) ("inverted labels").

The classifier stays frozen; predictions are classifier(M_t(x)). The paper uses Adam
(lr 2e-4); dabench's trainer uses SGD with the configured learning rate.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from dabench.losses.adversarial import DomainDiscriminator, domain_adversarial_loss
from dabench.methods.base import METHODS, Method, groups


@METHODS.register("adda")
class ADDA(Method):
    def __init__(self, trade_off: float = 1.0, hidden: int = 500):
        super().__init__()
        self.trade_off, self.hidden = trade_off, hidden

    def source_stage(self):
        return {"method": "source_only"}

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.discriminator = DomainDiscriminator(model.feature_dim, self.hidden)

    def start_from(self, source_model):
        super().start_from(source_model)
        self.source_encoder = copy.deepcopy(nn.Sequential(source_model.backbone, source_model.bottleneck))
        self.freeze(self.source_encoder)
        self.freeze(self.model.classifier)

    def updates(self, s, t, progress, t_labeled=None):
        with torch.no_grad():
            source_features = self.source_encoder(s.x)
        target_features = self.model.features(t.x)
        yield "discriminator", {"disc": domain_adversarial_loss(self.discriminator(source_features),
                                                                self.discriminator(target_features.detach()))}
        logits = self.discriminator(self.model.features(t.x))
        yield "encoder", {"adv": self.trade_off * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)),
                          **self.labeled_target_loss(t_labeled)}

    def optimizers(self, backbone_lr_mult):
        return {"discriminator": groups((self.discriminator.parameters(), 1.0)),
                "encoder": groups((self.model.backbone.parameters(), backbone_lr_mult),
                                  (self.model.bottleneck.parameters(), 1.0))}
