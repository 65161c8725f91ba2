"""MME: Minimax Entropy, semi-supervised DA. Saito et al., ICCV 2019, arXiv:1904.06487.

The classifier is a cosine classifier, logits = W_n^T f_n / T (rows of W and features f
L2-normalised, Eq. 1). Behind a gradient reversal layer the classifier maximises the entropy
of unlabeled target predictions while the features minimise it (Eq. 7):

  L = CE(source) [+ CE(labeled target)] - trade_off * H(target),

with ``target_labeled: k`` giving the k-shot labeled target samples. Defaults from the
paper: trade_off (lambda) 0.1, T 0.05. The 1/T = 20 logit scale needs a smaller learning
rate than plain SGD heads when the backbone trains from scratch (LeNet on digits diverges
at lr 0.01 and trains at 0.005; the paper uses 0.01 with a pretrained backbone at 0.001).
"""
import torch.nn.functional as F
from torch import nn

from dabench.losses.adversarial import grad_reverse
from dabench.losses.target import entropy
from dabench.methods.base import METHODS, Method


class CosineClassifier(nn.Module):
    """(N, d) -> (N, C) cosine similarities to C learned prototypes, divided by `temperature`."""

    def __init__(self, feature_dim: int, num_classes: int, temperature: float = 0.05):
        super().__init__()
        self.prototypes = nn.Linear(feature_dim, num_classes, bias=False)
        self.temperature = temperature

    def forward(self, features):
        return F.normalize(features, dim=1) @ F.normalize(self.prototypes.weight, dim=1).T / self.temperature


@METHODS.register("mme")
class MME(Method):
    def __init__(self, trade_off: float = 0.1, temperature: float = 0.05):
        super().__init__()
        self.trade_off, self.temperature = trade_off, temperature

    def build(self, model, num_classes, steps):
        model.classifier = CosineClassifier(model.feature_dim, num_classes, self.temperature)
        super().build(model, num_classes, steps)

    def loss(self, s, t, progress):
        out_s, out_t = self.forward_pair(s.x, t.x)
        reversed_logits = self.model.classifier(grad_reverse(out_t.features, 1.0))
        return {"cls": F.cross_entropy(out_s.logits, s.y), "minimax_ent": -self.trade_off * entropy(reversed_logits)}
