"""Source only: plain supervised fine-tuning on the source domain, the no-adaptation baseline.

L = CE(source). The target batch is not used, so batch-norm statistics are source-only too.
"""
import torch.nn.functional as F

from dabench.methods.base import METHODS, Method


@METHODS.register("source_only")
class SourceOnly(Method):
    def loss(self, s, t, progress):
        return {"cls": F.cross_entropy(self.model(s.x).logits, s.y)}
