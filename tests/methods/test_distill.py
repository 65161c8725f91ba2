import numpy as np
import torch

from dabench.log import Loggers
from dabench.losses.target import distillation_loss
from dabench.testing import build_toy, toy_config
from methods.reference import softmax


def test_loss_is_t_squared_times_kl_teacher_to_student():
    student, teacher = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    p, q = softmax(teacher.numpy() / 3), softmax(student.numpy() / 3)
    expected = 9 * (p * (np.log(p) - np.log(q))).sum(1).mean()
    assert np.isclose(distillation_loss(student, teacher, 3.0).item(), expected)
    assert distillation_loss(teacher, teacher, 3.0).item() < 1e-12


def test_a_frozen_larger_teacher_trains_a_smaller_student(tmp_path):
    teacher = {"backbone": {"name": "mlp", "hidden": [64]}, "bottleneck_dim": 32}
    trainer, method, data = build_toy(toy_config({"name": "distill", "teacher": teacher},
                                                      trainer={"steps": 150, "eval_every": 150}))
    assert method.teacher.feature_dim == 32 and method.model.feature_dim == 8
    frozen = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    trainer.fit(method, data, tmp_path, Loggers(), seed=0)
    assert all(torch.equal(frozen[k], v) for k, v in method.teacher.state_dict().items())
    method.eval()
    agreement = (method.predict(data.target_test.x).argmax(1) == method.teacher(data.target_test.x).logits.argmax(1))
    assert agreement.float().mean() > 0.9
