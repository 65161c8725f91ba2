"""Frozen-feature transfer: a new head trained on top of a fixed feature extractor.

The classic "CNN features off-the-shelf" recipe (Donahue et al., ICML 2014 DeCAF;
Razavian et al., CVPR-W 2014): L = CE(source), with the backbone frozen (no gradient, batch
norm in eval mode); only the bottleneck and classifier learn. Meaningful with a pretrained
backbone (``model.backbone: {name: resnet50, weights: DEFAULT}``); compare with
``fine_tune``. Like it, a backbone without pretrained weights is refused when the config is
checked, unless ``allow_random_backbone: true`` asks for it (to measure what freezing random
features costs).
"""
from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


@METHODS.register("frozen_features")
class FrozenFeatures(FineTune):
    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.freeze(model.backbone)
