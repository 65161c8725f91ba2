"""CoTTA: Continual Test-Time Domain Adaptation. Wang, Fink, Van Gool, Dai, CVPR 2022, arXiv:2203.13591.

A student learns from a teacher that is its exponential moving average (Eq. 2-3): the student's
loss is the cross-entropy to the teacher's soft predictions, -sum_c p_teacher log p_student, one
Adam step on every weight (lr 1e-3); the teacher then follows, theta' <- alpha theta' + (1 - alpha)
theta (alpha 0.999). When the source model's mean top probability on the batch is below
`confidence_threshold` (0.92, the CIFAR10-C setting), the teacher's predictions are averaged over
`augmentations` (32) random augmentations of the batch (Eq. 4-5; `dabench.stream.base.augment_images`:
affine jitter, blur, a horizontal flip unless `flip` is false, as for digits, and noise). Stochastic
restore (Eq. 6-7): after every step, each weight element returns to its source value with
probability `restore_probability` (0.01). The scored predictions are the teacher's (averaged when
augmented). Batch norm normalises with the batch's statistics, in all three models. Updates every weight of the student (the teacher follows);
keeps both models and Adam's moments.
"""
import copy

import torch
from torch import optim

from dabench.stream.base import STREAM_METHODS, StreamMethod, augment_images, require_images, use_batch_statistics


@STREAM_METHODS.register("cotta")
class CoTTA(StreamMethod):
    """Mean-teacher self-training with augmentation-averaged pseudo-labels and stochastic restore."""

    updates = "every weight (a student; its moving-average teacher predicts)"
    keeps = "the student, the teacher and Adam's moments"

    def __init__(self, lr: float = 1e-3, ema: float = 0.999, confidence_threshold: float = 0.92,
                 augmentations: int = 32, restore_probability: float = 0.01, flip: bool = True):
        super().__init__()
        self.lr, self.ema, self.confidence_threshold = lr, ema, confidence_threshold
        self.augmentations, self.restore_probability, self.flip = augmentations, restore_probability, flip

    def prepare(self):
        self.source_weights = [p.detach().clone() for p in self.model.parameters()]
        use_batch_statistics(self.model)
        self.model.requires_grad_(True)
        self.anchor = copy.deepcopy(self.model).requires_grad_(False)  # the source, for its confidence only
        self.teacher = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = optim.Adam(self.model.parameters(), lr=self.lr, betas=(0.9, 0.999))

    def teacher_predictions(self, x):
        """(scored logits, soft targets (N, C)): the teacher's, averaged over augmentations when the source is
        unsure of the batch."""
        with torch.no_grad():
            logits = self.teacher(x).logits
            confidence = self.anchor(x).logits.softmax(1).max(1).values.mean()
            if self.augmentations and confidence < self.confidence_threshold:
                require_images(x, "cotta", "set method.augmentations: 0")
                probs = torch.stack([self.teacher(augment_images(x, self.flip)).logits.softmax(1)
                                     for _ in range(self.augmentations)]).mean(0)
                return probs.clamp_min(1e-12).log(), probs
            return logits, logits.softmax(1)

    def adapt(self, x):
        logits, targets = self.teacher_predictions(x)
        loss = -(targets * self.model(x).logits.log_softmax(1)).sum(1).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for teacher, student in zip(self.teacher.parameters(), self.model.parameters()):
                teacher.mul_(self.ema).add_(student, alpha=1 - self.ema)
            for student, source in zip(self.model.parameters(), self.source_weights):
                restore = torch.rand_like(student) < self.restore_probability
                student.copy_(torch.where(restore, source, student))
        return logits
