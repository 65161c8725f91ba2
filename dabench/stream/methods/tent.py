"""TENT in the stream: Fully Test-Time Adaptation by Entropy Minimization. Wang et al., ICLR 2021,
arXiv:2006.10726.

Each arriving batch is normalised with its own statistics; the mean entropy of its predictions is
minimised by one SGD step (momentum 0.9) on the batch-norm scales and shifts alone, and the batch's
scored predictions are those of the forward pass it adapts on (Sec. 3; the authors' code returns
the same). Defaults: the paper's ImageNet SGD, lr 0.00025 at batch 64; its CIFAR runs use Adam at 1e-3.
Updates the batch-norm affine parameters; keeps them and the optimizer's momentum between batches.
"""
from torch import optim

from dabench.losses.target import entropy
from dabench.stream.base import STREAM_METHODS, StreamMethod, train_batch_norm_affine, use_batch_statistics


@STREAM_METHODS.register("tent")
class TENT(StreamMethod):
    """Entropy minimisation on the batch-norm affine parameters, one step per batch."""

    updates = "batch-norm affine"
    keeps = "the adapted affine parameters and SGD momentum"

    def __init__(self, lr: float = 0.00025, momentum: float = 0.9, steps: int = 1):
        super().__init__()
        self.lr, self.momentum, self.steps = lr, momentum, steps

    def prepare(self):
        use_batch_statistics(self.model)
        self.optimizer = optim.SGD(train_batch_norm_affine(self.model), lr=self.lr, momentum=self.momentum)

    def objective(self, logits):
        """The loss of a batch's logits (N, C): their mean entropy in nats (None: no step on this batch)."""
        return entropy(logits)

    def adapt(self, x):
        for _ in range(self.steps):
            logits = self.model(x).logits
            loss = self.objective(logits)
            if loss is not None:
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
        return logits.detach()
