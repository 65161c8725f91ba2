"""Evaluation: accuracy on labeled splits and label-free scores on unlabeled target data.

Only this module reads ``target_test``; its accuracy is reported as the run's result at
the last step and, in per-eval records, under ``target_test_acc`` (selecting a checkpoint
with it would be oracle selection).
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from dabench.data.loaders import LabeledSplit, TransferData
from dabench.losses.target import entropy


@torch.no_grad()
def predict_logits(method, x: Tensor, batch_size: int, autocast: contextlib.AbstractContextManager) -> Tensor:
    """Logits (N, C) in float32, computed in eval mode in chunks of `batch_size`."""
    was_training = method.training
    method.eval()
    chunks = []
    for start in range(0, len(x), batch_size):
        with autocast:
            chunks.append(method.predict(x[start:start + batch_size]).float())
    method.train(was_training)
    return torch.cat(chunks)


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy in percent."""
    return (logits.argmax(dim=1) == labels).sum().item() * 100 / len(labels)


def evaluate(method, data: TransferData, batch_size: int, autocast) -> dict[str, float]:
    """source_val_acc, target_test_acc (percent) and score/target_entropy (label-free, nats)."""
    def acc(split: LabeledSplit) -> float:
        return accuracy(predict_logits(method, split.x, batch_size, autocast), split.y)

    target_logits = predict_logits(method, data.target_train, batch_size, autocast)
    return {"source_val_acc": acc(data.source_val) if len(data.source_val.y) else float("nan"),
            "target_test_acc": acc(data.target_test),
            "score/target_entropy": entropy(target_logits).item()}
