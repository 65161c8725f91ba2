"""Images decoded once (dabench.data.decoded) against the per-sample PIL pipeline they replace on CUDA.

Both run here on the CPU: the decoded path is the same tensor code on any device.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dabench.config_files import merge
from dabench.data import decoded as decoded_module
from dabench.data.decoded import crop_boxes
from dabench.data.files import ImageFiles, ImagePolicy
from dabench.errors import DabenchError
from dabench.run import train
from dabench.testing import folder_config, make_folder_domains

SIZES = [(300, 400), (400, 300), (250, 250), (480, 640), (120, 500)]  # (h, w): landscape, portrait, square, wide


def ramp_images(folder) -> list[str]:
    """Images whose red channel is the column (0..255 left to right) and green the row: a crop's box is
    readable from its pixels. Blue is smooth noise, for texture statistics."""
    paths = []
    for k, (height, width) in enumerate(SIZES):
        red = np.broadcast_to(np.linspace(0, 255, width), (height, width))
        green = np.broadcast_to(np.linspace(0, 255, height)[:, None], (height, width))
        blue = np.random.default_rng(k).integers(0, 256, (height // 10 + 1, width // 10 + 1))
        blue = np.kron(blue, np.ones((10, 10)))[:height, :width]
        path = folder / f"{k}.png"
        Image.fromarray(np.stack([red, green, blue], -1).round().astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def views(paths, decode: str, train_resizing: str = "ran.crop", draws: int = 0, seed: int = 0):
    """(n, 3, 64, 64) images in [0, 1]: the test view of every path, or `draws` training views of each."""
    policy = ImagePolicy(64, 72, train_resizing, True, "unit", decode)
    files = ImageFiles(paths, policy)
    if not draws:
        return (files[:] + 1) / 2
    positions = torch.arange(len(paths)).repeat_interleave(draws)
    return (files.training_view().read(positions, seed) + 1) / 2


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return ramp_images(tmp_path_factory.mktemp("ramps"))


@pytest.mark.parametrize("train_resizing", ["ran.crop", "cen.crop", "res."])
def test_the_test_view_is_the_per_sample_pipelines_exactly(images, train_resizing):
    once, per_batch = views(images, "once", train_resizing), views(images, "per_batch", train_resizing)
    assert torch.equal(once, per_batch)


def crop_geometry(batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image of (n, 3, S, S) ramp crops: mirrored or not, the crop's width and height as fractions of the
    resized image, and its centre."""
    red, green = batch[:, 0] * 255, batch[:, 1] * 255
    left, right = red[:, :, 1].mean(1), red[:, :, -2].mean(1)  # one pixel in: edges are clamped, not averaged
    top, bottom = green[:, 1, :].mean(1), green[:, -2, :].mean(1)
    return {"flipped": (right < left).float(), "width": (right - left).abs() / 255, "height": (bottom - top) / 255,
            "centre_x": (left + right) / 510, "centre_y": (top + bottom) / 510}


def test_training_views_match_the_per_sample_pipeline_in_distribution(images):
    """The same crop geometry (torchvision's RandomResizedCrop sampling and flips) and the same pixel statistics:
    1,000 draws per image from each pipeline."""
    once = views(images, "once", draws=200, seed=1)
    per_batch = views(images, "per_batch", draws=200, seed=2)
    assert once.shape == per_batch.shape == (1000, 3, 64, 64)
    ours, theirs = crop_geometry(once), crop_geometry(per_batch)
    for name in ours:
        for statistic in (torch.mean, torch.std):
            assert statistic(ours[name]).item() == pytest.approx(statistic(theirs[name]).item(), abs=0.035), name
    for channel in range(3):
        assert once[:, channel].mean().item() == pytest.approx(per_batch[:, channel].mean().item(), abs=0.02)
        assert once[:, channel].std().item() == pytest.approx(per_batch[:, channel].std().item(), abs=0.02)
    # not merely centre crops: the areas spread over RandomResizedCrop's whole range
    area = ours["width"] * ours["height"]
    assert area.min() < 0.15 and area.max() > 0.9


def test_crop_boxes_fit_and_follow_torchvisions_fallback():
    sizes = torch.tensor([[72, 96]] * 2000 + [[10, 1000]])  # the last fits no draw: the centre fallback
    top, left, height, width = crop_boxes(sizes, torch.Generator().manual_seed(0))
    assert (top >= 0).all() and (left >= 0).all() and (height >= 1).all() and (width >= 1).all()
    assert (top + height <= sizes[:, 0]).all() and (left + width <= sizes[:, 1]).all()
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(0)
    reference = torch.tensor([RandomResizedCrop.get_params(torch.zeros(72, 96), (0.08, 1.0), (3 / 4, 4 / 3))
                              for _ in range(2000)], dtype=torch.float32)
    for ours, theirs in ((height[:-1] * width[:-1], reference[:, 2] * reference[:, 3]),
                         (width[:-1] / height[:-1], reference[:, 3] / reference[:, 2]), (top[:-1], reference[:, 0])):
        assert ours.mean().item() == pytest.approx(theirs.mean().item(), rel=0.04)
        assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.06)
    assert (height[-1].item(), width[-1].item(), left[-1].item()) == (10, round(10 * 4 / 3), (1000 - 13) // 2)


def test_training_views_depend_on_the_seed_only(images):
    first, again = views(images, "once", draws=3, seed=5), views(images, "once", draws=3, seed=5)
    assert torch.equal(first, again) and not torch.equal(first, views(images, "once", draws=3, seed=6))


def test_a_run_decodes_each_image_once_and_is_reproducible(tmp_path, monkeypatch):
    root = make_folder_domains(tmp_path / "domains")
    built = []
    real = decoded_module.DecodedImages
    monkeypatch.setattr(decoded_module, "DecodedImages", lambda paths, *args: built.append(paths) or real(paths, *args))
    monkeypatch.setattr(decoded_module, "_STORES", type(decoded_module._STORES)())
    cfg = folder_config(root, method="shot")  # SHOT also reads the target inputs (HiddenImages) at begin
    cfg = merge(cfg, {"dataset": {"decode": "once"}})
    first = train(cfg, tmp_path / "a")
    # the target (transductive): one store for its train, test and hidden views
    targets = [paths for paths in built if "sketches" in paths[0]]
    assert len(targets) == 1 and len(targets[0]) == 18
    again = train(cfg, tmp_path / "b")
    assert first["records"] == again["records"]
    per_batch = train({**cfg, "dataset": {**cfg["dataset"], "decode": "per_batch"}}, tmp_path / "c")
    assert per_batch["config_hash"] != first["config_hash"]


def test_unknown_decode_and_a_padding_crop_are_refused():
    with pytest.raises(DabenchError, match=r"unknown decode 'gpu'; known: auto, per_batch, once"):
        ImagePolicy(decode="gpu")
    with pytest.raises(DabenchError, match=r"resize_size 200 < image_size 224"):
        ImagePolicy(resize_size=200)



def test_auto_decodes_once_on_cuda_for_splits_that_fit_and_per_batch_elsewhere():
    from dabench.data.files import AUTO_ONCE_MAX_IMAGES

    def files(count: int, decode: str, device: str) -> ImageFiles:  # no file is opened: the choice only
        return ImageFiles([f"{i}.jpg" for i in range(count)], ImagePolicy(decode=decode), device=device)

    assert files(10, "auto", "cuda").decodes_once and not files(10, "auto", "cpu").decodes_once
    assert not files(AUTO_ONCE_MAX_IMAGES + 1, "auto", "cuda").decodes_once  # VisDA, DomainNet: per batch
    assert files(10, "once", "cpu").decodes_once and not files(10, "per_batch", "cuda").decodes_once


def test_a_store_larger_than_half_the_free_gpu_memory_is_refused_with_the_fix(monkeypatch):
    from dabench.data.decoded import check_fits

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (8 * 2**30, 80 * 2**30))
    check_fits(3 * 2**30, torch.device("cuda"))  # fits in half of 8 GiB
    with pytest.raises(DabenchError, match=r"needs 5.0 GiB of GPU memory and cuda has 8.0 GiB free; set "
                                           r"dataset.decode=per_batch"):
        check_fits(5 * 2**30, torch.device("cuda"))
