"""Teacher-student knowledge distillation. Hinton, Vinyals & Dean, 2015, arXiv:1503.02531.

Stage 1 (shared, cached): the teacher, source only, with the model `teacher` ({backbone,
bottleneck_dim}; default: the student's own architecture). Stage 2 trains the student (the
run's ``model``) with

  L = (1 - alpha) * CE(student(x_s), y_s) + alpha * T^2 KL(softmax(teacher / T) || softmax(student / T)),

the KL taken over source and, with `target_data` (transfer), unlabeled target batches too.
Defaults: T = 4, alpha = 0.9 (common choices; the paper reports T in 2-20).
"""
import torch
import torch.nn.functional as F

from dabench.losses.target import distillation_loss
from dabench.methods.base import METHODS, Method


@METHODS.register("distill")
class Distillation(Method):
    def __init__(self, temperature: float = 4.0, alpha: float = 0.9, target_data: bool = True,
                 teacher: dict | None = None):
        super().__init__()
        self.temperature, self.alpha, self.target_data, self.teacher_spec = temperature, alpha, target_data, teacher

    def source_stage(self):
        return {"method": "source_only", **({"model": self.teacher_spec} if self.teacher_spec else {})}

    def start_from(self, source_model):
        self.teacher = source_model
        self.freeze(self.teacher)

    def loss(self, s, t, progress):
        x = torch.cat([s.x, t.x]) if self.target_data else s.x
        student = self.model(x).logits
        with torch.no_grad():
            teacher = self.teacher(x).logits
        return {"cls": (1 - self.alpha) * F.cross_entropy(student[:len(s.x)], s.y),
                "kd": self.alpha * distillation_loss(student, teacher, self.temperature)}
