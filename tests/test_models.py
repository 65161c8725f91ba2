import pytest
import torch

from dabench.errors import DabenchError
from dabench.models.backbones import BACKBONES
from dabench.models.model import build_model


@pytest.mark.parametrize("name, shape, dim", [("lenet", (1, 28, 28), 500), ("dtn", (3, 32, 32), 512),
                                              ("mlp", (800,), 256), ("resnet18", (3, 64, 64), 512)])
def test_backbones_map_inputs_to_feature_dim(name, shape, dim):
    backbone = BACKBONES.build(name, input_shape=shape)
    backbone.eval()
    assert backbone.feature_dim == dim
    assert backbone(torch.zeros(2, *shape)).shape == (2, dim)


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
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: torchvision must download

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("torch.hub.download_url_to_file", no_network)
    with pytest.raises(DabenchError, match=r"could not load resnet18 weights 'IMAGENET1K_V1'.*"
                                           r"model.backbone.weights=/path/to/resnet18.pth"):
        BACKBONES.build({"name": "resnet18", "weights": "IMAGENET1K_V1"}, input_shape=(3, 64, 64))


def test_resnet_loads_a_local_weights_file(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), tmp_path / "r18.pth")
    backbone = BACKBONES.build({"name": "resnet18", "weights": str(tmp_path / "r18.pth")}, input_shape=(3, 32, 32))
    assert torch.equal(backbone[0].conv1.weight, reference.conv1.weight)
