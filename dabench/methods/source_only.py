"""Source only: plain supervised fine-tuning on the source domain, the no-adaptation baseline.

L = CE(source), optionally with label smoothing (SHOT's source stage uses 0.1; Szegedy et
al., CVPR 2016). The target batch is not used, so batch-norm statistics are source-only too.
With a pretrained backbone this is full fine-tuning; ``optim.backbone_lr_mult: 0.1`` gives
fine-tuning with a lower backbone learning rate. In domain generalization (``unseen_target``)
this is ERM, DomainBed's baseline.
"""
import torch.nn.functional as F

from dabench.methods.base import METHODS, Method


@METHODS.register("source_only")
class SourceOnly(Method):
    uses_target = False  # also ERM, the domain-generalization baseline

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def cross_entropy(self, logits, labels):
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)

    def loss(self, s, t, progress):
        return {"cls": self.cross_entropy(self.model(s.x).logits, s.y)}
