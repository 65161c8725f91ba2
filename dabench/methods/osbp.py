"""OSBP: Open Set Domain Adaptation by Backpropagation. Saito, Yamamoto, Ushiku & Harada, ECCV 2018,
arXiv:1804.10427.

Open-set DA (the target holds classes the source lacks; ``source_classes`` in the run config).
The classifier C has K + 1 outputs, the last one "unknown". Source samples train all of it with
cross-entropy over the K + 1 outputs; on target samples C is trained to output p(unknown | x_t)
= t while the feature generator G, behind a gradient reversal layer, is trained to move it away
from t, towards known (aligned) or unknown (rejected) (Eq. 2-4):

  L_adv(x_t) = -t log p(K+1 | x_t) - (1 - t) log(1 - p(K+1 | x_t)),
  min_C  CE(x_s) + trade_off * L_adv(x_t),   min_G  CE(x_s) - trade_off * L_adv(x_t).

t = 0.5 and a constant reversal coefficient of 1, as in the paper and in TLlib's OSBP. A sample is
predicted unknown when the K + 1th output is the largest (dabench.evaluate.open_set_predictions).
"""
import torch
import torch.nn.functional as F

from dabench.losses.adversarial import grad_reverse
from dabench.methods.base import METHODS, Method
from dabench.models.model import with_outputs


def unknown_bce(logits, t: float):
    """L_adv: the binary cross-entropy of p(unknown) = softmax(logits)[:, -1] against t, mean over
    the batch. logits: (N, K+1)."""
    log_probs = logits.float().log_softmax(dim=1)
    log_known = torch.logsumexp(log_probs[:, :-1], dim=1)  # log(1 - p(unknown)), without cancellation
    return -(t * log_probs[:, -1] + (1 - t) * log_known).mean()


@METHODS.register("osbp")
class OSBP(Method):
    unknown_output = True

    def __init__(self, trade_off: float = 1.0, t: float = 0.5):
        super().__init__()
        self.trade_off, self.t = trade_off, t

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        model.classifier = with_outputs(model.classifier, num_classes + 1)

    def loss(self, s, t, progress):
        features = self.model.features(torch.cat([s.x, t.x]))
        n = len(s.x)
        logits_s = self.model.classifier(features[:n])
        logits_t = self.model.classifier(grad_reverse(features[n:], 1.0))
        return {"cls": F.cross_entropy(logits_s, s.y), "adv": self.trade_off * unknown_bce(logits_t, self.t)}
