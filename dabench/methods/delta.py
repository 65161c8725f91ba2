"""DELTA: deep learning transfer using feature-map regularisation. Li et al., ICLR 2019, arXiv:1901.09229.

  L = CE + alpha / 2 * mean_i ||F(w, x_i) - F(w0, x_i)||^2 + beta / 2 * ||w_new||^2

F: the pretrained layers' output features (``Model.pretrained_parts``: the backbone, and the
bottleneck when starting from a dabench run); w0: their starting weights, kept frozen; w_new: the
other parameters. This is DELTA's behavioural regulariser on the last feature map, with uniform
channel weights: the paper's supervised attention (channel weights from the loss increase when a
channel is removed) is not implemented. Defaults alpha 0.01, beta 0.01 (TLlib's trade-offs).
"""
from dabench.losses.fine_tuning import l2_norm
from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


@METHODS.register("delta")
class DELTA(FineTune):
    def __init__(self, alpha: float = 0.01, beta: float = 0.01, label_smoothing: float = 0.0,
                 allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.alpha, self.beta = alpha, beta

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.start = self.frozen_copy(model.pretrained())

    def loss(self, s, t, progress):
        backbone_features = self.model.backbone(s.x)
        features = self.model.bottleneck(backbone_features)
        # The regularised map is the last pretrained part's output; the reference runs the frozen copy of those parts.
        regularised = features if "bottleneck" in self.model.pretrained_parts else backbone_features
        reference = s.x
        for part in self.start:
            reference = part(reference)
        pretrained = set(map(id, self.model.pretrained().parameters()))
        new = [p for p in self.model.parameters() if id(p) not in pretrained]
        return {"cls": self.cross_entropy(self.model.classifier(features), s.y),
                "delta": self.alpha / 2 * (regularised - reference.detach()).pow(2).flatten(1).sum(1).mean(),
                "l2_new": self.beta / 2 * l2_norm(new)}
