"""L2-SP: fine-tuning towards the starting point. Li, Grandvalet, Davoine, ICML 2018, arXiv:1802.01483.

  L = CE + alpha / 2 * ||w_S - w_S^0||^2 + beta / 2 * ||w_new||^2      (Eq. 4)

w_S: the pretrained layers (the backbone; also the bottleneck when the run starts from a dabench
run, ``Model.pretrained_parts``); w_S^0: their starting values; w_new: every other parameter of the
model (the new layers). The paper replaces weight decay by this: set ``optim.weight_decay=0`` to
match it. Defaults alpha 0.01, beta 0.01 (the paper's range is 1e-3..0.1 for alpha, 0.01 for beta).
"""
from dabench.losses.fine_tuning import l2_distance, l2_norm
from dabench.methods.base import METHODS
from dabench.methods.fine_tune import FineTune


@METHODS.register("l2sp")
class L2SP(FineTune):
    def __init__(self, alpha: float = 0.01, beta: float = 0.01, label_smoothing: float = 0.0,
                 allow_random_backbone: bool = False):
        super().__init__(label_smoothing, allow_random_backbone)
        self.alpha, self.beta = alpha, beta

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.start = self.frozen_copy(model.pretrained())
        # Found once, not per step: moving to a device or loading a checkpoint keeps the Parameter objects.
        self.pretrained_parameters = list(model.pretrained().parameters())
        pretrained = set(map(id, self.pretrained_parameters))
        self.new_parameters = [p for p in model.parameters() if id(p) not in pretrained]

    def loss(self, s, t, progress):
        return {**super().loss(s, t, progress),
                "l2sp": self.alpha / 2 * l2_distance(self.pretrained_parameters, self.start.parameters()),
                "l2_new": self.beta / 2 * l2_norm(self.new_parameters)}
