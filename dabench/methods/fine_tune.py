"""Fine-tuning a pretrained network: the transfer-learning baseline, and the base of the regularised
fine-tuning methods (l2sp, delta, bss, co_tuning, lwf, stochnorm, bi_tuning, lp_ft).

Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural networks?
NeurIPS 2014. L = CE(labeled batch), every layer trained, starting from pretrained weights (the
backbone's ``weights``, or a dabench run via ``model.init_from``); ``optim.backbone_lr_mult`` < 1 trains
the pretrained layers more gently than the new head (0.1 in TLlib's scripts), ``optim.layer_decay`` < 1
each earlier layer more gently still. In DA settings the labeled batch is the source's; in task
adaptation (``source: none``) it is the target's label budget. A network without pretrained weights
is refused when the config is checked, unless ``allow_random_backbone: true`` asks for it:
"fine-tuning" a random network is training from scratch.
"""
from copy import deepcopy

from torch import nn

from dabench.errors import DabenchError
from dabench.methods.base import METHODS, groups
from dabench.methods.source_only import SourceOnly


@METHODS.register("fine_tune")
class FineTune(SourceOnly):
    needs_pretrained_backbone = True

    def __init__(self, label_smoothing: float = 0.0, allow_random_backbone: bool = False):
        super().__init__(label_smoothing)
        self.allow_random_backbone = allow_random_backbone

    # Submodules of the method itself that train with the model at the head's rate (LwF's old-task head, a projector).
    trained_heads: tuple[str, ...] = ()

    def param_groups(self, backbone_lr_mult):
        own = [p for name in self.trained_heads for p in getattr(self, name).parameters()]
        return [*super().param_groups(backbone_lr_mult), *groups((own, 1.0))]

    def frozen_copy(self, module: nn.Module) -> nn.Module:
        """A frozen copy of `module` at its pretrained weights (the reference of L2-SP, DELTA, LwF); it is
        part of the method's state, so a resumed run regularises towards the same weights."""
        copy = deepcopy(module)
        self.freeze(copy)
        return copy

    def old_head(self, model) -> nn.Module:
        """The pretrained task's classifier over backbone features, (N, backbone.feature_dim) -> (N, C_old), trained
        along (LwF, Co-Tuning): the init_from run's or the backbone's own (``Model.pretrained_head``); a random
        one only with ``allow_random_backbone``."""
        if model.pretrained_head is not None:
            return deepcopy(model.pretrained_head)
        if not self.allow_random_backbone:
            raise DabenchError(f"method '{self.registered_name}' trains the pretrained task's classifier too, and this "
                               f"model has none; start from a dabench run (model.init_from=CELL) or a backbone that "
                               f"ships its classifier (efficientnet_lite0 with weights imagenet)")
        return nn.Linear(model.backbone.feature_dim, 10)
