"""Model = backbone -> optional bottleneck -> linear classifier; returns Outputs in train and eval."""
from __future__ import annotations

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
        dropout: dropout probability after the bottleneck (0: none).
        freeze: backbone layers to freeze, by name (``["conv1", "bn1", "layer1"]`` for a ResNet;
            ``["all"]`` for the whole backbone).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, bottleneck_dim: int = 256, dropout: float = 0.0,
                 freeze: list[str] | tuple[str, ...] = ()):
        super().__init__()
        self.backbone = backbone
        for name in freeze:
            self.freeze(backbone if name == "all" else _layer(backbone, name))
        if bottleneck_dim > 0:
            self.bottleneck = nn.Sequential(nn.Linear(backbone.feature_dim, bottleneck_dim),
                                            nn.BatchNorm1d(bottleneck_dim), nn.ReLU(),
                                            *([nn.Dropout(dropout)] if dropout else []))
            self.feature_dim = bottleneck_dim
        else:
            self.bottleneck = nn.Identity()
            self.feature_dim = backbone.feature_dim
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """(N, ...) -> (N, feature_dim): backbone then bottleneck, without the classifier."""
        return self.bottleneck(self.backbone(x))

    def forward(self, x: Tensor) -> Outputs:
        features = self.features(x)
        return Outputs(features, self.classifier(features))

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.bottleneck.parameters(), *self.classifier.parameters()]


def _layer(backbone: nn.Module, name: str) -> nn.Module:
    try:
        return backbone.get_submodule(name)
    except AttributeError:
        raise DabenchError(f"model.freeze: the backbone has no layer '{name}'; its layers: "
                           f"{', '.join(n for n, _ in backbone.named_children())}, or 'all'") from None


def build_model(backbone: str | dict, input_shape: tuple[int, ...], num_classes: int, bottleneck_dim: int = 256,
                dropout: float = 0.0, freeze: list[str] | tuple[str, ...] = ()) -> Model:
    """Build from the config's ``model`` section: backbone spec ("lenet", "timm:<name>" or {name, **kwargs})."""
    return Model(BACKBONES.build(backbone, input_shape=tuple(input_shape)), num_classes, bottleneck_dim, dropout,
                 freeze)
