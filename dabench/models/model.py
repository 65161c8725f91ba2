"""Model = backbone -> optional bottleneck -> classifier head; returns Outputs in train and eval."""
from __future__ import annotations

from copy import deepcopy
from typing import Literal

from torch import Tensor, nn

from dabench.errors import DabenchError
from dabench.models.backbones import BACKBONES
from dabench.types import Outputs


class Freezable(nn.Module):
    """A module whose frozen parts stay frozen: no gradient, and eval mode (fixed batch-norm
    statistics) even while the rest trains."""

    def freeze(self, module: nn.Module) -> None:
        module.requires_grad_(False)
        self._frozen = [*getattr(self, "_frozen", []), module]
        module.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        for module in getattr(self, "_frozen", []):
            module.eval()
        return self


class Model(Freezable):
    """The shared feature extractor and its classifier.

    Args:
        backbone: module with ``feature_dim``, (N, ...) -> (N, backbone.feature_dim).
        num_classes: C.
        bottleneck_dim: width of Linear-BN-ReLU(-Dropout) after the backbone (the standard DA
            head, as in DANN/CDAN code); 0 to classify backbone features directly.
        dropout: dropout probability after the bottleneck and inside a two-layer head (0: none).
        freeze: backbone layers to freeze, by name (``["conv1", "bn1", "layer1"]`` for a ResNet;
            ``["all"]`` for the whole backbone).
        bottleneck_batchnorm: False drops the BatchNorm (Linear-ReLU(-Dropout): TLlib's DAN
            bottleneck).
        head_width: 0: a linear classifier; > 0: Linear(head_width)-ReLU-Dropout-Linear (MDD's main
            head in the authors' code and TLlib).
        init: "pytorch" (PyTorch's default); "mdd": the MDD code's, bottleneck weights N(0, 0.005)
            with bias 0.1, head weights N(0, 0.01) with bias 0.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, bottleneck_dim: int = 256, dropout: float = 0.0,
                 freeze: list[str] | tuple[str, ...] = (), bottleneck_batchnorm: bool = True,
                 head_width: int = 0, init: Literal["pytorch", "mdd"] = "pytorch"):
        super().__init__()
        self.backbone = backbone
        for name in freeze:
            self.freeze(backbone if name == "all" else backbone_layer(backbone, name))
        if bottleneck_dim > 0:
            self.bottleneck = nn.Sequential(nn.Linear(backbone.feature_dim, bottleneck_dim),
                                            *([nn.BatchNorm1d(bottleneck_dim)] if bottleneck_batchnorm else []),
                                            nn.ReLU(), *([nn.Dropout(dropout)] if dropout else []))
            self.feature_dim = bottleneck_dim
        else:
            self.bottleneck = nn.Identity()
            self.feature_dim = backbone.feature_dim
        if head_width > 0:
            self.classifier = nn.Sequential(nn.Linear(self.feature_dim, head_width), nn.ReLU(),
                                            *([nn.Dropout(dropout)] if dropout else []),
                                            nn.Linear(head_width, num_classes))
        else:
            self.classifier = nn.Linear(self.feature_dim, num_classes)
        if init == "mdd":
            if bottleneck_dim > 0:
                init_linear(self.bottleneck[0], std=0.005, bias=0.1)
            for layer in self.classifier.modules():
                if isinstance(layer, nn.Linear):
                    init_linear(layer, std=0.01)

    # The pretrained task's classifier over backbone features, (N, backbone.feature_dim) -> (N, C_old): the init_from
    # run's or the one the backbone ships. Not a submodule (it stays out of the parameters and the state dict): only
    # a method that trains the old task's head too (LwF, Co-Tuning) registers a copy as its own. `pretrained_parts`
    # names the submodules that start from pretrained weights (the bottleneck too with init_from).
    pretrained_head: nn.Module | None = None
    pretrained_parts: tuple[str, ...] = ("backbone",)

    def pretrained(self) -> nn.ModuleList:
        """The submodules that start from pretrained weights (``pretrained_parts``), in order."""
        return nn.ModuleList([getattr(self, part) for part in self.pretrained_parts])

    def features(self, x: Tensor) -> Tensor:
        """(N, ...) -> (N, feature_dim): backbone then bottleneck, without the classifier."""
        return self.bottleneck(self.backbone(x))

    def forward(self, x: Tensor) -> Outputs:
        features = self.features(x)
        return Outputs(features, self.classifier(features))

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.bottleneck.parameters(), *self.classifier.parameters()]


def with_outputs(classifier: nn.Module, num_outputs: int) -> nn.Module:
    """A fresh copy of `classifier` (a Linear, or a Sequential ending in one) whose last Linear has
    `num_outputs` outputs; every Linear is re-initialised, the architecture kept."""
    if isinstance(classifier, nn.Linear):
        return nn.Linear(classifier.in_features, num_outputs)
    if not isinstance(classifier[-1], nn.Linear):
        raise DabenchError(f"the classifier ends in {type(classifier[-1]).__name__}, not a Linear layer; cannot "
                           f"add outputs")
    copy = deepcopy(classifier)
    copy[-1] = nn.Linear(classifier[-1].in_features, num_outputs)
    for layer in copy.modules():
        if isinstance(layer, nn.Linear):
            layer.reset_parameters()
    return copy


def init_linear(layer: nn.Linear, std: float, bias: float = 0.0) -> None:
    """Weights drawn from N(0, std), biases set to a constant (MDD's initialisation)."""
    nn.init.normal_(layer.weight, 0.0, std)
    nn.init.constant_(layer.bias, bias)


def backbone_layer(backbone: nn.Module, name: str, key: str = "model.freeze") -> nn.Module:
    """The backbone's layer `name` (a dotted submodule path); a one-line error naming the config `key` and
    the backbone's layers otherwise."""
    try:
        return backbone.get_submodule(name)
    except AttributeError:
        raise DabenchError(f"{key}: the backbone has no layer '{name}'; its layers: "
                           f"{', '.join(n for n, _ in backbone.named_children())}"
                           + (", or 'all'" if key == "model.freeze" else "")) from None


def build_model(backbone: str | dict, input_shape: tuple[int, ...], num_classes: int, **head) -> Model:
    """Build from a ``model`` section without ``init_from`` (``dabench.models.pretrained.build_from_config`` handles
    that): backbone spec ("lenet", "timm:<name>" or {name, **kwargs}) and the keyword arguments of ``Model`` for the
    bottleneck and head. The model's ``pretrained_head`` is the classifier the backbone ships, if any (EfficientNet-
    Lite0's ImageNet one), over backbone features."""
    model = Model(BACKBONES.build(backbone, input_shape=tuple(input_shape)), num_classes, **head)
    model.__dict__["pretrained_head"] = getattr(model.backbone, "pretrained_head", None)  # not a submodule: see Model
    return model


def backbone_layer_ids(backbone: nn.Module) -> dict[str, int]:
    """{parameter name: layer index 0..L-1} in the backbone's order, for layer-wise learning-rate decay.

    A layer is a parameter's module path cut after its last numeric part, i.e. one block of a
    Sequential or ModuleList (``0.net._blocks.3`` for an EfficientNet block, ``layer2.1`` for a ResNet
    block); a module outside any numbered block is a layer of its own (``0.net._conv_stem``)."""
    layers: dict[str, int] = {}
    ids = {}
    for name, _ in backbone.named_parameters():
        parts = name.split(".")[:-1]
        numeric = [i for i, part in enumerate(parts) if part.isdigit()]
        layer = ".".join(parts[:numeric[-1] + 1] if numeric else parts)
        ids[name] = layers.setdefault(layer, len(layers))
    return ids
