"""MCD: Maximum Classifier Discrepancy. Saito et al., CVPR 2018, arXiv:1712.02560.

Two classifiers F1, F2 on the features of G; each iteration makes three updates (Sec. 3.2):

  A. G, F1, F2 minimise CE(F1(G(x_s))) + CE(F2(G(x_s))).
  B. F1, F2 (G fixed) minimise the source CE - trade_off * d(F1(G(x_t)), F2(G(x_t))).
  C. G (F1, F2 fixed) minimises trade_off * d(F1(G(x_t)), F2(G(x_t))), num_k times.

d is the mean absolute difference of the softmax outputs (Eq. 1). Defaults from the paper:
num_k 4, trade_off 1. Here F1 is the model's classifier and F2 a second classifier of the same
architecture on the same bottleneck features; predictions are the sum of the two classifiers' logits.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from dabench.losses.target import classifier_discrepancy
from dabench.methods.base import METHODS, Method, groups
from dabench.types import Outputs


@METHODS.register("mcd")
class MCD(Method):
    def __init__(self, num_k: int = 4, trade_off: float = 1.0):
        super().__init__()
        self.num_k, self.trade_off = num_k, trade_off

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.classifier_2 = copy.deepcopy(model.classifier)  # same architecture, fresh weights
        for layer in self.classifier_2.modules():
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def heads(self, features):
        return self.model.classifier(features), self.classifier_2(features)

    def outputs(self, x):
        features = self.model.features(x)
        logits_1, logits_2 = self.heads(features)
        return Outputs(features, logits_1 + logits_2)

    def updates(self, s, t, progress, t_labeled=None):
        logits_1, logits_2 = self.heads(self.model.features(s.x))
        yield "all", {"cls": F.cross_entropy(logits_1, s.y) + F.cross_entropy(logits_2, s.y),
                      **self.labeled_target_loss(t_labeled)}
        n = len(s.x)
        with torch.no_grad():
            features = self.model.features(torch.cat([s.x, t.x]))
        logits_1, logits_2 = self.heads(features)
        yield "classifiers", {"cls_b": F.cross_entropy(logits_1[:n], s.y) + F.cross_entropy(logits_2[:n], s.y),
                              "disc_max": -self.trade_off * classifier_discrepancy(logits_1[n:], logits_2[n:])}
        for _ in range(self.num_k):
            logits_1, logits_2 = self.heads(self.model.features(t.x))
            yield "generator", {"disc_min": self.trade_off * classifier_discrepancy(logits_1, logits_2)}

    def optimizers(self, backbone_lr_mult):
        backbone, bottleneck = self.model.backbone.parameters(), self.model.bottleneck.parameters()
        classifiers = [*self.model.classifier.parameters(), *self.classifier_2.parameters()]
        return {"all": groups((backbone, backbone_lr_mult), ([*bottleneck, *classifiers], 1.0)),
                "classifiers": groups((classifiers, 1.0)),
                "generator": groups((self.model.backbone.parameters(), backbone_lr_mult),
                                    (self.model.bottleneck.parameters(), 1.0))}
