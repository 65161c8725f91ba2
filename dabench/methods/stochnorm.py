"""StochNorm: stochastic normalisation for fine-tuning. Kou, You, Long, Wang, NeurIPS 2020.

Every batch-norm layer of the model becomes a StochNorm layer: in training, each channel is
normalised with the moving statistics (running mean and variance) with probability p, and with
the mini-batch statistics otherwise (Eq. 6); the running statistics are updated as in batch norm,
and evaluation uses them as batch norm does. The moving statistics start from the pretrained
ones, so the noise regularises towards the pretrained normalisation, which matters most with few
labels. L = CE. Default p 0.5 (the paper's).
"""
import torch
import torch.nn.functional as F
from torch import nn

from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


class StochNorm(nn.modules.batchnorm._BatchNorm):
    """A BatchNorm1d/2d with the same parameters and buffers (so the same state-dict keys) that, in training,
    takes each channel's moving statistics with probability `p` and its batch statistics otherwise."""

    def __init__(self, batch_norm: nn.modules.batchnorm._BatchNorm, p: float):
        super().__init__(batch_norm.num_features, batch_norm.eps, batch_norm.momentum, batch_norm.affine,
                         batch_norm.track_running_stats)
        self.load_state_dict(batch_norm.state_dict())
        self.p = p

    def _check_input_dim(self, x):
        if x.dim() not in (2, 3, 4, 5):
            raise ValueError(f"StochNorm expects 2-5 dimensional input, got {x.dim()}")

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        moving = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        batch = super().forward(x)  # updates the running statistics, after `moving` read them
        shape = (1, -1) + (1,) * (x.dim() - 2)
        use_moving = torch.rand(self.num_features, device=x.device) < self.p
        return torch.where(use_moving.view(shape), moving, batch)


def stochastic_norm(module: nn.Module, p: float) -> None:
    """Replace every batch-norm layer inside `module` by a StochNorm with its weights and statistics."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and child.track_running_stats:
            setattr(module, name, StochNorm(child, p).to(child.weight.device if child.affine else "cpu"))
        else:
            stochastic_norm(child, p)


@METHODS.register("stochnorm")
class StochNormFineTune(FineTune):
    def __init__(self, p: float = 0.5, label_smoothing: float = 0.0, allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.p = p

    def build(self, model, num_classes, steps):
        stochastic_norm(model, self.p)
        super().build(model, num_classes, steps)
