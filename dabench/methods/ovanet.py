"""OVANet: One-vs-All Network for Universal Domain Adaptation. Saito & Saenko, ICCV 2021,
arXiv:2104.03344.

Open-set and universal DA (``source_classes``, and ``target_classes`` for target-private and
source-private classes). Besides the closed-set classifier C (K outputs), K one-vs-all binary
classifiers O_k share the features; O_k(x) = (p_neg, p_pos) of class k. On source samples,
O learns with its label as positive and its hardest negative (Eq. 1); on target samples, the
entropy of every O_k is minimised, pushing each sample towards known or unknown (Eq. 3):

  L = CE(C(f_s), y) + 1/2 (-log p_pos_y - max_{k != y} log p_neg_k) + weight * mean_k H(O_k(f_t)).

A sample is unknown when the one-vs-all classifier of its closed-set prediction says negative
(p_neg > 0.5): the threshold is learned from the source classes, not set by hand. Outputs carry
K + 1 logits, the last one max_k C_k + log(p_neg / p_pos) of the predicted class, so that it wins
exactly when the sample is unknown. weight 0.1, the authors' default.
"""
import torch
import torch.nn.functional as F
from torch import nn

from dabench.methods.base import METHODS, Method, groups
from dabench.types import Outputs


def one_vs_all_probs(logits):
    """(N, 2K) one-vs-all logits -> (N, 2, K) probabilities, [:, 0] negative and [:, 1] positive."""
    return logits.float().view(len(logits), 2, -1).softmax(dim=1)


def hard_negative_loss(probs, labels):
    """1/2 (mean -log p_pos of the label + mean max over other classes of -log p_neg); probs (N, 2, K)."""
    positive = F.one_hot(labels, probs.shape[2]).bool()
    pos = -torch.log(probs[:, 1].gather(1, labels[:, None]) + 1e-8).mean()  # a gather: a mask's size waits for the GPU
    neg = (-torch.log(probs[:, 0] + 1e-8)).masked_fill(positive, 0.0).max(dim=1).values.mean()
    return 0.5 * (pos + neg)


def one_vs_all_entropy(probs):
    """Mean over samples and classes of the binary entropy of each one-vs-all classifier; probs (N, 2, K)."""
    return (-probs * torch.log(probs + 1e-8)).sum(dim=1).mean()


@METHODS.register("ovanet")
class OVANet(Method):
    unknown_output = True

    def __init__(self, weight: float = 0.1):
        super().__init__()
        self.weight = weight

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.one_vs_all = nn.Linear(model.feature_dim, 2 * num_classes, bias=False)  # bias-free, as the authors' C2

    def loss(self, s, t, progress):
        out_s, out_t = self.forward_pair(s.x, t.x)
        return {"cls": F.cross_entropy(out_s.logits, s.y),
                "ova": hard_negative_loss(one_vs_all_probs(self.one_vs_all(out_s.features)), s.y),
                "ent": self.weight * one_vs_all_entropy(one_vs_all_probs(self.one_vs_all(out_t.features)))}

    def outputs(self, x):
        out = self.model(x)
        probs = one_vs_all_probs(self.one_vs_all(out.features))
        top, predicted = out.logits.float().max(dim=1)
        chosen = probs.gather(2, predicted[:, None, None].expand(-1, 2, 1)).squeeze(2)  # (N, 2) of the prediction
        unknown = top + torch.log(chosen[:, 0] + 1e-8) - torch.log(chosen[:, 1] + 1e-8)
        return Outputs(out.features, torch.cat([out.logits.float(), unknown[:, None]], dim=1))

    def param_groups(self, backbone_lr_mult):
        head = [*self.model.head_parameters(), *self.one_vs_all.parameters()]
        return groups((self.model.backbone.parameters(), backbone_lr_mult), (head, 1.0))
