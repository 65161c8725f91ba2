"""Evaluation: accuracy on labeled splits and label-free scores on unlabeled target data.

Only this module reads ``target_test``; its accuracy is reported as the run's result at
the last step and, in per-eval records, under ``target_test_acc`` (selecting a checkpoint
with it would be oracle selection).
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from dabench.data.files import chunks
from dabench.data.loaders import LabeledSplit, TransferData
from dabench.losses.target import entropy


@torch.no_grad()
def predict_logits(method, x, batch_size: int, autocast: contextlib.AbstractContextManager) -> Tensor:
    """Logits (N, C) in float32 of a tensor or ImageFiles, computed in eval mode in chunks of `batch_size`."""
    was_training = method.training
    method.eval()
    logits = []
    for chunk in chunks(x, batch_size):
        with autocast:
            logits.append(method.predict(chunk).float())
    method.train(was_training)
    return torch.cat(logits)


def accuracy(logits: Tensor, labels: Tensor, metric: str = "accuracy") -> float:
    """Top-1 accuracy in percent, or with metric="mean_class_accuracy" the mean of the per-class
    accuracies (VisDA-2017's metric; scikit-learn's balanced accuracy)."""
    if metric == "mean_class_accuracy":
        from sklearn.metrics import balanced_accuracy_score

        return 100 * balanced_accuracy_score(labels.cpu().numpy(), logits.argmax(dim=1).cpu().numpy())
    return (logits.argmax(dim=1) == labels).sum().item() * 100 / len(labels)


def evaluate(method, data: TransferData, batch_size: int, autocast) -> dict[str, float]:
    """source_val_acc, target_test_acc (percent) and score/target_entropy (label-free, nats)."""
    def acc(split: LabeledSplit) -> float:
        return accuracy(predict_logits(method, split.x, batch_size, autocast), split.y, data.metric)

    target_logits = predict_logits(method, data.target_train, batch_size, autocast)
    return {"source_val_acc": acc(data.source_val) if len(data.source_val.y) else float("nan"),
            "target_test_acc": acc(data.target_test),
            "score/target_entropy": entropy(target_logits).item()}
