"""DELTA: deep learning transfer using feature-map regularisation. Li et al., ICLR 2019, arXiv:1901.09229.

  L = CE + alpha / 2 * mean_i ||F(w, x_i) - F(w0, x_i)||^2 + beta / 2 * ||w_new||^2

F: the pretrained layers' output features (``Model.pretrained_parts``: the backbone, and the
bottleneck when starting from a dabench run); w0: their starting weights, kept frozen; w_new: the
other parameters. This is DELTA's behavioural regulariser on the last feature map, with uniform
channel weights: the paper's supervised attention (channel weights from the loss increase when a
channel is removed) is not implemented. The frozen start and the new layers' penalty are L2-SP's;
only the distance differs (features instead of weights). Defaults alpha 0.01, beta 0.01.
"""
from dabench.losses.fine_tuning import l2_norm
from dabench.methods.base import METHODS
from dabench.methods.l2sp import L2SP


@METHODS.register("delta")
class DELTA(L2SP):
    def loss(self, s, t, progress):
        backbone_features = self.model.backbone(s.x)
        features = self.model.bottleneck(backbone_features)
        # The regularised map is the last pretrained part's output; the reference runs the frozen copy of those parts.
        regularised = features if "bottleneck" in self.model.pretrained_parts else backbone_features
        reference = s.x
        for part in self.start:
            reference = part(reference)
        return {"cls": self.cross_entropy(self.model.classifier(features), s.y),
                "delta": self.alpha / 2 * (regularised - reference.detach()).pow(2).flatten(1).sum(1).mean(),
                "l2_new": self.beta / 2 * l2_norm(self.new_parameters)}
