"""Fine-tuning a pretrained network on the source: the transfer-learning baseline.

Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural networks?
NeurIPS 2014. L = CE(source), every layer trained, starting from the backbone's pretrained
weights; ``optim.backbone_lr_mult`` < 1 trains the pretrained layers more gently than the new
head (0.1 in TLlib's scripts). The same loss as ``source_only``, but a backbone without
pretrained weights is refused when the config is checked, unless ``allow_random_backbone:
true`` asks for it: "fine-tuning" a random network is training from scratch.
"""
from dabench.methods.base import METHODS
from dabench.methods.source_only import SourceOnly


@METHODS.register("fine_tune")
class FineTune(SourceOnly):
    needs_pretrained_backbone = True

    def __init__(self, label_smoothing: float = 0.0, allow_random_backbone: bool = False):
        super().__init__(label_smoothing)
        self.allow_random_backbone = allow_random_backbone
