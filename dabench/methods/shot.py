"""SHOT: Source Hypothesis Transfer, source-free adaptation. Liang et al., ICML 2020, arXiv:2002.08546.

Stage 1 (shared, cached): source only with label smoothing 0.1.
Stage 2 reads no source data: the classifier (hypothesis) is frozen and the feature extractor
minimises, on target batches only,

  E[H(p)] - diversity_weight * H(E[p])  +  pseudo_label_weight * CE(logits, pseudo-labels),

with pseudo-labels from ``cluster_pseudo_labels`` over all target inputs, refreshed
`refreshes` times during training (at the start of each of `refreshes` equal intervals).
Defaults from the paper and its code: pseudo_label_weight 0.3, diversity_weight 1,
label smoothing 0.1, 15 refreshes. The code's weight-normalised classifier is not used.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

from dabench.data.files import chunks
from dabench.losses.target import information_maximization
from dabench.methods.base import METHODS, Method


def cluster_pseudo_labels(features: Tensor, probs: Tensor, rounds: int = 1) -> Tensor:
    """SHOT's self-supervised pseudo-labels (Eq. 4-6).

    Features get a constant 1 appended and are L2-normalised; class centroids are the
    prediction-weighted means of the features; each sample takes the class of the nearest
    centroid by cosine distance; then `rounds` times, centroids are recomputed from those
    hard labels and samples relabelled. Classes nobody predicts are never assigned.

    Args:
        features: (N, d); probs: (N, C) softmax predictions.
    Returns:
        (N,) int64 labels.
    """
    features = F.normalize(torch.cat([features, torch.ones(len(features), 1, device=features.device)], dim=1), dim=1)
    present = torch.unique(probs.argmax(dim=1))
    weights = probs
    for _ in range(rounds + 1):
        centroids = weights.T @ features / (weights.sum(dim=0, keepdim=True).T + 1e-8)
        similarity = features @ F.normalize(centroids[present], dim=1).T
        labels = present[similarity.argmax(dim=1)]
        weights = F.one_hot(labels, probs.shape[1]).to(features.dtype)
    return labels


@METHODS.register("shot")
class SHOT(Method):
    def __init__(self, pseudo_label_weight: float = 0.3, diversity_weight: float = 1.0, refreshes: int = 15,
                 source_label_smoothing: float = 0.1):
        super().__init__()
        self.pseudo_label_weight, self.diversity_weight = pseudo_label_weight, diversity_weight
        self.refreshes, self.source_label_smoothing = refreshes, source_label_smoothing

    def source_stage(self):
        return {"method": {"name": "source_only", "label_smoothing": self.source_label_smoothing}}

    def start_from(self, source_model):
        super().start_from(source_model)
        self.freeze(self.model.classifier)

    def begin(self, source, target_inputs):
        self.target_inputs = target_inputs
        # Buffers, so that a resumed run continues with the same pseudo-labels.
        self.register_buffer("pseudo_labels", torch.zeros(len(target_inputs), dtype=torch.long,
                                                          device=target_inputs.device))
        self.register_buffer("refreshed_at", torch.tensor(-1))

    @torch.no_grad()
    def refresh_pseudo_labels(self) -> None:
        was_training = self.training
        self.eval()
        outputs = [self.model(chunk) for chunk in chunks(self.target_inputs, 1024)]
        self.train(was_training)
        features = torch.cat([o.features for o in outputs]).float()
        probs = torch.cat([o.logits for o in outputs]).float().softmax(dim=1)
        self.pseudo_labels = cluster_pseudo_labels(features, probs)

    def loss(self, s, t, progress):
        interval = int(progress * self.refreshes)
        if self.pseudo_label_weight and self.refresh_due(interval):
            self.refresh_pseudo_labels()
        logits = self.model(t.x).logits
        terms = {"im": information_maximization(logits, self.diversity_weight)}
        if self.pseudo_label_weight:
            terms["pseudo"] = self.pseudo_label_weight * F.cross_entropy(logits, self.pseudo_labels[t.idx])
        return terms
