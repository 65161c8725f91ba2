"""Frozen-feature transfer: a new head trained on top of a fixed feature extractor.

The classic "CNN features off-the-shelf" recipe (Donahue et al., ICML 2014 DeCAF;
Razavian et al., CVPR-W 2014): L = CE(source), with the backbone frozen (no gradient, batch
norm in eval mode); only the bottleneck and classifier learn. Meaningful with a pretrained
backbone (``model.backbone: {name: resnet50, weights: DEFAULT}``); compare with
``source_only`` (full fine-tuning) and ``source_only`` + ``optim.backbone_lr_mult: 0.1``.
"""
from dabench.methods.base import METHODS
from dabench.methods.source_only import SourceOnly


@METHODS.register("frozen_features")
class FrozenFeatures(SourceOnly):
    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.freeze(model.backbone)
