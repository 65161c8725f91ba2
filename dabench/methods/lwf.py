"""LwF: Learning without Forgetting. Li & Hoiem, ECCV 2016 / TPAMI 2017, arXiv:1606.09282.

The pretrained task's head (``Model.pretrained_head``) is trained along, its outputs held to those
of the original network on the new data by distillation at temperature T:

  L = CE(new head, y) + trade_off * CE_T(old head(x), original network(x))      (Eq. 2-3)

CE_T: cross-entropy between the softmaxes at temperature T (the paper's modified cross-entropy,
without its T^2 scaling). The paper records the original network's outputs once before training;
a frozen copy of it gives the same targets for every view of a sample. Defaults from the paper:
trade_off (lambda_o) 1, T 2.
"""
import torch

from dabench.losses.fine_tuning import soft_cross_entropy
from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


@METHODS.register("lwf")
class LwF(FineTune):
    trained_heads = ("old",)

    def __init__(self, trade_off: float = 1.0, temperature: float = 2.0, label_smoothing: float = 0.0,
                 allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.trade_off, self.temperature = trade_off, temperature

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.old = self.old_head(model)
        self.original_backbone, self.original_head = self.frozen_copy(model.backbone), self.frozen_copy(self.old)

    def loss(self, s, t, progress):
        backbone_features = self.model.backbone(s.x)
        logits = self.model.classifier(self.model.bottleneck(backbone_features))
        with torch.no_grad():
            recorded = (self.original_head(self.original_backbone(s.x)).float() / self.temperature).softmax(1)
        return {"cls": self.cross_entropy(logits, s.y),
                "lwf": self.trade_off * soft_cross_entropy(self.old(backbone_features), recorded, self.temperature)}
