"""StreamMethod, the base of a test-time adaptation method in the stream protocol, and its registry.

A stream method receives the source model once (`setup`), then each batch of unlabeled target inputs
once (`forward`, which returns the batch's logits: the predictions that are scored). It owns its
updates: which weights change, its optimizer, what it keeps between batches. `reset` restores the
source model exactly (episodic streams reset after every batch); `predict` answers a batch as on
arrival and then undoes what that changed (the final model's second pass).
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from dabench.errors import DabenchError
from dabench.methods.adabn import batch_norm_layers
from dabench.models.model import Model
from dabench.registry import Registry

STREAM_METHODS = Registry("test-time method", "dabench.stream.methods")


def use_batch_statistics(model: nn.Module) -> None:
    """Normalise every batch-norm layer with the statistics of the batch it sees (TENT's normalisation):
    train mode without running statistics; everything else (dropout) in eval mode."""
    model.eval()
    for norm in batch_norm_layers(model):
        norm.train()
        norm.track_running_stats = False
        norm.running_mean, norm.running_var = None, None


def augment_images(x: Tensor, flip: bool = True) -> Tensor:
    """One random augmentation of an image batch (N, C, H, W), the same draw for the whole batch (CoTTA's and
    RoTTA's): an affine jitter (rotation up to 15 degrees, translation up to 1/16, scale 0.9-1.1), a Gaussian blur
    (sigma up to 0.5), a horizontal flip with probability 1/2 unless `flip` is false (digits), Gaussian noise (std
    0.005). Other inputs get a one-line error naming the method option that turns augmentation off."""
    from torchvision.transforms import v2

    x = v2.RandomAffine(degrees=15, translate=(1 / 16, 1 / 16), scale=(0.9, 1.1))(x)
    x = v2.GaussianBlur(kernel_size=5, sigma=(0.001, 0.5))(x)
    if flip and torch.rand(()) < 0.5:
        x = x.flip(-1)
    return x + 0.005 * torch.randn_like(x)


def require_images(x: Tensor, method: str, fix: str) -> None:
    """A one-line error unless `x` is an image batch (N, C, H, W): `method` augments or shuffles images."""
    if x.dim() != 4:
        raise DabenchError(f"{method} transforms its inputs as images (N, C, H, W) and these are not "
                           f"(shape {tuple(x.shape)}); {fix}")


def train_batch_norm_affine(model: nn.Module) -> list[nn.Parameter]:
    """Freeze every weight but the batch-norm scales and shifts; returns those (TENT, EATA, SAR)."""
    model.requires_grad_(False)
    params = []
    for norm in batch_norm_layers(model):
        if norm.affine:
            norm.requires_grad_(True)
            params += [norm.weight, norm.bias]
    return params


class StreamMethod(nn.Module):
    """Base: no adaptation. Subclasses set what they update and keep, and override `adapt`.

    Class attributes, shown by `dabench list` and the method catalogue:
        updates: which weights change ("nothing", "batch-norm affine", ...).
        keeps: what it carries from batch to batch besides those weights.
    """

    updates = "nothing"
    keeps = "nothing"
    # True for a method that returns to the source after every input (MEMO): its final model is the source model
    # with the same per-input procedure, so the online pass is already the final model's and is not run twice.
    episodic_by_design = False
    # Attributes besides parameters and buffers that change from batch to batch (of any shape: a support set
    # that grows), saved with the state so that resets and resumed streams restore them.
    kept_attributes: tuple[str, ...] = ()

    def setup(self, model: Model) -> None:
        """Take the source model (already a copy: the method may change it in place)."""
        self.model = model
        self.model.eval()
        self.prepare()
        self.source_state = copy.deepcopy(self.state_dict())  # what `reset` restores, optimizer moments included

    def prepare(self) -> None:
        """Set the model up for adaptation (normalisation mode, trainable parameters, optimizer)."""

    def forward(self, x: Tensor) -> Tensor:
        """(N, ...) inputs of one arriving batch -> (N, C) logits, the batch's scored predictions."""
        return self.adapt(x)

    def adapt(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.model(x).logits

    def predict(self, x: Tensor) -> Tensor:
        """The logits the method would return if `x` arrived now, with every change that makes undone afterwards
        (the final model's second pass: nothing it sees then is kept)."""
        state = copy.deepcopy(self.state_dict())
        logits = self.adapt(x).detach()
        self.load_state_dict(state)
        return logits

    def reset(self) -> None:
        """Back to the source model and the method's initial state, exactly."""
        self.load_state_dict(self.source_state)

    # The optimizer's state and the kept attributes ride in the state_dict, so resets and resumes restore them.
    def get_extra_state(self):
        optimizer = getattr(self, "optimizer", None)
        return copy.deepcopy({"optimizer": optimizer.state_dict() if optimizer is not None else None,
                              **{name: getattr(self, name) for name in self.kept_attributes}})

    def set_extra_state(self, state) -> None:
        state = copy.deepcopy(state)
        optimizer = state.pop("optimizer")
        if optimizer is not None:
            self.optimizer.load_state_dict(optimizer)
        for name, value in state.items():
            setattr(self, name, value)
