"""Bi-Tuning: fine-tuning with supervised and contrastive heads. Zhong et al., 2020, arXiv:2011.06182.

Beside the classifier, a projector head maps the backbone features to a unit sphere (dimension
``projection_dim``); a momentum copy of backbone and projector (EMA ``momentum``) encodes keys,
kept with their labels in a queue of ``queue_size``. The categorical contrastive term pulls each
query towards the keys of its class and away from the others:

  L = CE + trade_off * mean_i [ -1/|P_i| sum_{k in P_i} log( exp(q_i.k / tau) / sum_{k'} exp(q_i.k' / tau) ) ]

P_i: the keys (queue and current batch) with sample i's label. Defaults from the paper: tau 0.07,
projection 128, momentum 0.999, queue 1,024 keys (the paper keeps K per class), trade_off 1.
What is not implemented: the contrastive cross-entropy on the classifier head, and a second
augmented view (the key encoder reads the same view).
"""
import torch
import torch.nn.functional as F
from torch import nn

from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


def categorical_contrastive(queries, keys, query_labels, key_labels, temperature):
    """(N, D) unit queries, (K, D) unit keys, their labels ((N,), (K,); -1: an empty slot) -> the mean over queries of
    -mean_{k of its class} log softmax_k(q.k / T); queries without a key of their class count zero."""
    logits = (queries @ keys.T / temperature).masked_fill(key_labels.unsqueeze(0) < 0, float("-inf"))
    positive = (query_labels.unsqueeze(1) == key_labels.unsqueeze(0)).float()
    log_prob = logits.log_softmax(1).masked_fill(positive == 0, 0.0)
    return -(log_prob.sum(1) / positive.sum(1).clamp_min(1)).mean()


@METHODS.register("bi_tuning")
class BiTuning(FineTune):
    trained_heads = ("projector",)

    def __init__(self, trade_off: float = 1.0, temperature: float = 0.07, projection_dim: int = 128,
                 momentum: float = 0.999, queue_size: int = 1024, label_smoothing: float = 0.0,
                 allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.trade_off, self.temperature, self.projection_dim = trade_off, temperature, projection_dim
        self.momentum, self.queue_size = momentum, queue_size

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        width = model.backbone.feature_dim
        self.projector = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, self.projection_dim))
        self.key_backbone, self.key_projector = self.frozen_copy(model.backbone), self.frozen_copy(self.projector)
        self.register_buffer("queue", torch.zeros(self.queue_size, self.projection_dim))
        self.register_buffer("queue_labels", torch.full((self.queue_size,), -1))
        self.register_buffer("queue_at", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def keys(self, x):
        for online, key in ((self.model.backbone, self.key_backbone), (self.projector, self.key_projector)):
            for p, p_key in zip(online.parameters(), key.parameters()):
                p_key.mul_(self.momentum).add_(p.detach(), alpha=1 - self.momentum)
        return F.normalize(self.key_projector(self.key_backbone(x)).float(), dim=1)

    def loss(self, s, t, progress):
        backbone_features = self.model.backbone(s.x)
        logits = self.model.classifier(self.model.bottleneck(backbone_features))
        queries = F.normalize(self.projector(backbone_features).float(), dim=1)
        keys = self.keys(s.x)
        contrast = categorical_contrastive(queries, torch.cat([keys, self.queue]), s.y,
                                           torch.cat([s.y, self.queue_labels]), self.temperature)
        slots = (self.queue_at + torch.arange(len(keys), device=keys.device)) % self.queue_size
        self.queue[slots], self.queue_labels[slots] = keys, s.y
        self.queue_at.copy_((self.queue_at + len(keys)) % self.queue_size)
        return {"cls": self.cross_entropy(logits, s.y), "contrast": self.trade_off * contrast}
