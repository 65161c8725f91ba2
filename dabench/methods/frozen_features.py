"""Frozen-feature transfer: a new head trained on top of a fixed feature extractor.

The classic "CNN features off-the-shelf" recipe (Donahue et al., ICML 2014 DeCAF;
Razavian et al., CVPR-W 2014): L = CE(source), with the backbone frozen (no gradient, batch
norm in eval mode); only the bottleneck and classifier learn. Meaningful with a pretrained
backbone (``model.backbone: {name: resnet50, weights: DEFAULT}``); compare with
``source_only`` (full fine-tuning) and ``source_only`` + ``optim.backbone_lr_mult: 0.1``.
A backbone without pretrained weights is refused when the config is checked, unless
``allow_random_backbone: true`` asks for it (to measure what freezing random features costs).
"""
from dabench.methods.base import METHODS
from dabench.methods.source_only import SourceOnly


@METHODS.register("frozen_features")
class FrozenFeatures(SourceOnly):
    needs_pretrained_backbone = True

    def __init__(self, label_smoothing: float = 0.0, allow_random_backbone: bool = False):
        super().__init__(label_smoothing)
        self.allow_random_backbone = allow_random_backbone

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.freeze(model.backbone)
