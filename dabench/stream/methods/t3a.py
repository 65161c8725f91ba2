"""T3A: Test-Time Template Adjuster. Iwasawa & Matsuo, NeurIPS 2021.

Replaces the linear classifier by prototypes: each class keeps a support set of features, started
with its classifier weight row; every arriving sample's feature joins the set of its predicted
class, each set keeps its `filter_k` lowest-entropy members (100, the paper's default; -1 keeps
all), and a batch is classified by the dot product of its features with the L2-normalised mean of
each class's L2-normalised supports (Eq. 2-4). Needs a linear classifier (model.head_width 0).
Updates no weight; keeps the support sets (features, pseudo-labels, entropies).
"""
import torch
import torch.nn.functional as F
from torch import nn

from dabench.errors import DabenchError
from dabench.losses.target import logit_entropies
from dabench.stream.base import STREAM_METHODS, StreamMethod


@STREAM_METHODS.register("t3a")
class T3A(StreamMethod):
    """Classification by per-class prototypes of confident test features, adjusted online."""

    updates = "nothing (the classifier is replaced by prototypes)"
    keeps = "the support set of each class"
    kept_attributes = ("supports", "labels", "entropies")

    def __init__(self, filter_k: int = 100):
        super().__init__()
        self.filter_k = filter_k

    def prepare(self):
        classifier = self.model.classifier
        if not isinstance(classifier, nn.Linear):
            raise DabenchError("t3a replaces a linear classifier by prototypes; this model's head is not linear: "
                               "set model.head_width: 0")
        with torch.no_grad():
            self.supports = classifier.weight.detach().clone()
            self.labels = torch.eye(classifier.out_features)
            self.entropies = logit_entropies(classifier(self.supports))

    def adapt(self, x):
        with torch.no_grad():
            outputs = self.model(x)
            predicted = F.one_hot(outputs.logits.argmax(1), self.labels.shape[1]).to(self.labels.dtype)
            self.supports = torch.cat([self.supports, outputs.features])
            self.labels = torch.cat([self.labels, predicted])
            self.entropies = torch.cat([self.entropies, logit_entropies(outputs.logits)])
            if self.filter_k >= 0:
                self.keep_most_confident()
            return self.classify(outputs.features)

    def keep_most_confident(self):
        classes = self.labels.argmax(1)
        keep = []
        for c in range(self.labels.shape[1]):
            members = (classes == c).nonzero().squeeze(1)
            keep.append(members[self.entropies[members].argsort()[:self.filter_k]])
        keep = torch.cat(keep).sort().values
        self.supports, self.labels, self.entropies = self.supports[keep], self.labels[keep], self.entropies[keep]

    def classify(self, features):
        """(N, d) features -> (N, C): dot products with the normalised class prototypes."""
        prototypes = F.normalize(F.normalize(self.supports, dim=1).T @ self.labels, dim=0)
        return features @ prototypes
