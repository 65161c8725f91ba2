"""Evaluation: accuracy on labeled splits and label-free validator scores on unlabeled target data.

Only ``oracle_scores`` reads ``target_test`` labels; its ``target_test_acc`` (accuracy, or the
H-score in open-set DA) at the last step is the run's result, and choosing a checkpoint with
any ``target_test_*`` value is oracle selection. Validators (dabench.selection.validators) see the source validation split
and the unlabeled target train split, never the target test split.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor

from dabench.data.files import chunks
from dabench.data.loaders import TransferData, take
from dabench.errors import NonFiniteLoss
from dabench.selection.validators import LabeledPredictions, Predictions, score_all, subset


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


def open_set_predictions(logits: Tensor, num_known: int, threshold: float) -> Tensor:
    """(N,) labels in 0..K, K = `num_known` meaning "unknown": the argmax of (N, K+1) logits (a method
    with an unknown output, OSBP); for (N, K) logits the argmax, or K where the top softmax
    probability is below `threshold`."""
    if logits.shape[1] == num_known + 1:
        return logits.argmax(dim=1)
    confidence, predicted = logits.float().softmax(dim=1).max(dim=1)
    return torch.where(confidence < threshold, num_known, predicted)


def open_set_scores(predicted: Tensor, labels: Tensor, num_known: int) -> dict[str, float]:
    """Open-set metrics (percent) of (N,) predicted and true labels in 0..K (K: unknown), over the
    classes present in `labels`:

    - ``os_star``: mean per-class accuracy (recall) of the known classes (OS*);
    - ``unk``: accuracy on the unknown samples (UNK);
    - ``os``: mean per-class accuracy over the known classes and unknown as one more class (OS,
      Saito et al., ECCV 2018);
    - ``h_score``: harmonic mean of OS* and UNK (Fu et al., ECCV 2020), 0 when both are 0.
    """
    from sklearn.metrics import recall_score

    present = sorted(set(labels.tolist()))
    recall = dict(zip(present, (100 * recall_score(labels.cpu().numpy(), predicted.cpu().numpy(), labels=present,
                                                   average=None, zero_division=0)).tolist()))
    known = [recall[c] for c in present if c != num_known]
    os_star, unk = sum(known) / len(known), recall.get(num_known, float("nan"))
    return {"os": sum(recall.values()) / len(recall), "os_star": os_star, "unk": unk,
            "h_score": 2 * os_star * unk / (os_star + unk) if os_star + unk > 0 else 0.0}


def oracle_scores(method, data: TransferData, batch_size: int, autocast, logits: Tensor | None = None
                  ) -> dict[str, float]:
    """{"target_test_acc": the setting's metric (percent)} and, in open-set DA, target_test_os,
    target_test_os_star and target_test_unk: the one place target labels are read. `logits`: the target
    test predictions (N, C) when already computed, else they are computed here."""
    split = data.target_test
    if logits is None:
        logits = predict(method, split.x, batch_size, autocast).logits
    if not data.open_set:
        return {"target_test_acc": accuracy(logits, split.y, data.metric)}
    scores = open_set_scores(open_set_predictions(logits, data.num_classes, data.unknown_threshold), split.y,
                             data.num_classes)
    return {"target_test_acc": scores.pop("h_score"), **{f"target_test_{k}": v for k, v in scores.items()}}


def finite(predictions: Predictions, split: str, step: int) -> Predictions:
    """`predictions`, after checking that they are finite: NaN outputs are a diverged run, not a score."""
    if not (torch.isfinite(predictions.logits).all() and torch.isfinite(predictions.features).all()):
        raise NonFiniteLoss(f"training diverged: the model's outputs on {split} became non-finite at step {step} "
                            f"(its weights, or NaN in the inputs); lower optim.lr or the method's trade_off, or "
                            f"check the data with `dabench data verify`")
    return predictions


def evaluate(method, data: TransferData, batch_size: int, autocast, step: int = 0,
             target_samples: int | None = None) -> dict[str, float]:
    """One evaluation record at `step`: source_val_acc (percent), source_val_loss (mean cross-entropy, nats),
    target_test_acc (percent, oracle: accuracy, or the H-score in open-set DA) with, in open-set DA,
    the other target_test_* metrics, and score/<validator> for every label-free validator, which see at
    most `target_samples` target train samples (a fixed random subset; None: all). One forward pass per
    split feeds them all. Non-finite outputs raise NonFiniteLoss (the run fails)."""
    # A transductive target's train inputs are its test inputs: predicted whole, they give the oracle too.
    shared = data.target_test_is_train
    n = len(data.target_train)
    scored = subset(n, target_samples) if target_samples is not None and n > target_samples else None
    target = data.target_train if shared or scored is None else take(data.target_train, scored)
    # Without target train data (domain generalization) the validators that read it score NaN.
    splits = {"target": finite(predict(method, target, batch_size, autocast), "target train", step)} if n else {}
    test_logits = splits["target"].logits if shared and n else None
    if shared and n and scored is not None:
        splits["target"] = Predictions(test_logits[scored], splits["target"].features[scored])
    record = {"source_val_acc": float("nan"), "source_val_loss": float("nan")}
    if len(data.source_val.y):
        source_val = finite(predict(method, data.source_val.x, batch_size, autocast), "source val", step)
        labels = data.source_val.y.cpu()
        splits["source_val"] = LabeledPredictions(source_val.logits, source_val.features, labels)
        record = {"source_val_acc": accuracy(source_val.logits, labels, data.metric),
                  "source_val_loss": F.cross_entropy(source_val.logits, labels).item()}
    return {**record, **oracle_scores(method, data, batch_size, autocast, test_logits), **score_all(splits)}
