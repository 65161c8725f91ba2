"""Co-Tuning: collaborative fine-tuning of the new and the pretrained task's heads. You et al., NeurIPS 2020.

The pretrained classifier (``Model.pretrained_head``, C_old outputs) is kept and trained along. Its
outputs on the labeled data give the category relationship p(y_old | y) (the "direct" estimate:
the mean softmax of the old head over the training samples of each new class y, computed once, in
``begin``, with the pretrained weights); then each sample's label is also a soft old-task label:

  L = CE(new head, y) + trade_off * CE(old head, p(. | y))               (Eq. 5)

Default trade_off 2.3 (TLlib's). The paper's calibrated relationship estimate is not implemented.
"""
import torch
import torch.nn.functional as F

from dabench.data.files import chunks
from dabench.losses.fine_tuning import soft_cross_entropy
from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


def category_relationship(old_probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C_old) p(y_old | y): the mean of (N, C_old) old-task probabilities over the samples of each class."""
    one_hot = F.one_hot(labels, num_classes).to(old_probs.dtype)
    return (one_hot.T @ old_probs) / one_hot.sum(0).clamp_min(1).unsqueeze(1)


@METHODS.register("co_tuning")
class CoTuning(FineTune):
    trained_heads = ("old",)

    def __init__(self, trade_off: float = 2.3, label_smoothing: float = 0.0, allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.trade_off = trade_off

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.old = self.old_head(model)
        self.num_classes = num_classes

    @torch.no_grad()
    def begin(self, source, target_inputs):
        was_training = self.training
        self.eval()
        probs = torch.cat([self.old(self.model.backbone(x)).float().softmax(1) for x in chunks(source.x, 256)])
        self.train(was_training)
        self.register_buffer("relationship", category_relationship(probs, source.y, self.num_classes))

    def loss(self, s, t, progress):
        backbone_features = self.model.backbone(s.x)
        logits = self.model.classifier(self.model.bottleneck(backbone_features))
        return {"cls": self.cross_entropy(logits, s.y),
                "co_tuning": self.trade_off * soft_cross_entropy(self.old(backbone_features), self.relationship[s.y])}
