"""Model = backbone -> optional bottleneck -> linear classifier; returns Outputs in train and eval."""
from __future__ import annotations

from torch import Tensor, nn

from dabench.models.backbones import BACKBONES
from dabench.types import Outputs


class Model(nn.Module):
    """The shared feature extractor and its classifier.

    Args:
        backbone: module with ``feature_dim``, (N, ...) -> (N, backbone.feature_dim).
        num_classes: C.
        bottleneck_dim: width of Linear-BN-ReLU after the backbone (the standard DA head,
            as in DANN/CDAN code); 0 to classify backbone features directly.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, bottleneck_dim: int = 256):
        super().__init__()
        self.backbone = backbone
        if bottleneck_dim > 0:
            self.bottleneck = nn.Sequential(nn.Linear(backbone.feature_dim, bottleneck_dim),
                                            nn.BatchNorm1d(bottleneck_dim), nn.ReLU())
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


def build_model(backbone: str | dict, input_shape: tuple[int, ...], num_classes: int,
                bottleneck_dim: int = 256) -> Model:
    """Build from the config's ``model`` section: backbone spec ("lenet" or {name, **kwargs})."""
    return Model(BACKBONES.build(backbone, input_shape=tuple(input_shape)), num_classes, bottleneck_dim)
