"""Evaluation: accuracy on labeled splits and label-free validator scores on unlabeled target data.

Only ``oracle_accuracy`` reads ``target_test`` labels; its value is the run's result at the
last step and, in per-eval records, ``target_test_acc`` (choosing a checkpoint with it is
oracle selection). Validators (dabench.selection.validators) see the source validation split
and the unlabeled target train split, never the target test split.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor

from dabench.data.files import chunks
from dabench.data.loaders import LabeledSplit, TransferData
from dabench.selection.validators import LabeledPredictions, Predictions, score_all


@torch.inference_mode()
def predict(method, x, batch_size: int, autocast: contextlib.AbstractContextManager) -> Predictions:
    """Eval-mode logits (N, C) and features (N, d), float32 on the CPU, of a tensor or ImageFiles,
    computed in chunks of `batch_size`."""
    was_training = method.training
    method.eval()
    logits, features = [], []
    for chunk in chunks(x, batch_size):
        with autocast:
            out = method.outputs(chunk)
        logits.append(out.logits.float().cpu())
        features.append(out.features.float().flatten(1).cpu())
    method.train(was_training)
    return Predictions(torch.cat(logits), torch.cat(features))


def accuracy(logits: Tensor, labels: Tensor, metric: str = "accuracy") -> float:
    """Top-1 accuracy in percent, or with metric="mean_class_accuracy" the mean of the per-class
    accuracies (VisDA-2017's metric; scikit-learn's balanced accuracy)."""
    if metric == "mean_class_accuracy":
        from sklearn.metrics import balanced_accuracy_score

        return 100 * balanced_accuracy_score(labels.cpu().numpy(), logits.argmax(dim=1).cpu().numpy())
    return (logits.argmax(dim=1) == labels.to(logits.device)).sum().item() * 100 / len(labels)


def oracle_accuracy(method, split: LabeledSplit, metric: str, batch_size: int, autocast) -> float:
    """Target test accuracy (percent): the one place target labels are read."""
    return accuracy(predict(method, split.x, batch_size, autocast).logits, split.y, metric)


def evaluate(method, data: TransferData, batch_size: int, autocast) -> dict[str, float]:
    """One evaluation record: source_val_acc (percent), source_val_loss (mean cross-entropy, nats),
    target_test_acc (percent, oracle) and score/<validator> for every label-free validator."""
    splits = {"target": predict(method, data.target_train, batch_size, autocast)}
    record = {"source_val_acc": float("nan"), "source_val_loss": float("nan")}
    if len(data.source_val.y):
        source_val = predict(method, data.source_val.x, batch_size, autocast)
        labels = data.source_val.y.cpu()
        splits["source_val"] = LabeledPredictions(source_val.logits, source_val.features, labels)
        record = {"source_val_acc": accuracy(source_val.logits, labels, data.metric),
                  "source_val_loss": F.cross_entropy(source_val.logits, labels).item()}
    return {**record, "target_test_acc": oracle_accuracy(method, data.target_test, data.metric, batch_size, autocast),
            **score_all(splits)}
