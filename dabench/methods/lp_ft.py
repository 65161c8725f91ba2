"""LP-FT: linear probing, then fine-tuning. Kumar et al., ICLR 2022, arXiv:2202.10054.

For the first ``probe_fraction`` of the steps only the head learns on frozen pretrained features (the
backbone gets no gradient and keeps its batch-norm statistics, in eval mode); then every layer is
fine-tuned, starting from a head that already fits, so that the early, large gradients of a random
head do not distort the pretrained features. L = CE in both phases. With ``model.bottleneck_dim=0``
the head is one linear layer, the paper's linear probe. Default probe_fraction 0.5 (the paper trains
the probe to convergence first; here the two phases share the run's steps and schedule).
"""
import torch

from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


@METHODS.register("lp_ft")
class LPFT(FineTune):
    def __init__(self, probe_fraction: float = 0.5, label_smoothing: float = 0.0, allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.probe_fraction = probe_fraction

    def loss(self, s, t, progress):
        probing = progress < self.probe_fraction
        self.model.backbone.train(self.training and not probing)
        with torch.set_grad_enabled(not probing and torch.is_grad_enabled()):
            backbone_features = self.model.backbone(s.x)
        features = self.model.bottleneck(backbone_features)
        return {"cls": self.cross_entropy(self.model.classifier(features), s.y)}
