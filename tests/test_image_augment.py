"""FixMatch's batched image views (dabench.data.augment) against torchvision's per-image transforms: the same
pixels for the same parameters, and the same distributions over many draws (two-sample tests at p > 0.001, with
fixed seeds, so each run gives the same verdict)."""
import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from dabench.data import augment
from dabench.data.files import IMAGENET_MEAN, IMAGENET_STD


def smooth_images(n: int, size: int = 24, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) uint8 images with structure at several scales (noise alone hides geometric ops)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=generator)
    fine = torch.rand(n, 3, size, size, generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear") * 0.7 + fine * 0.3
    return (images * 255).round().to(torch.uint8)


def test_every_rand_augment_op_and_sign_gives_torchvisions_pixels():
    """torchvision's RandAugment draws its op and sign from the global RNG: replay them and compare."""
    image = smooth_images(1, size=29)[0, :, :, :27]  # not square: shears and translations see both sides
    reference = v2.RandAugment(num_ops=1, magnitude=10)
    seen = set()
    for seed in range(150):
        torch.manual_seed(seed)
        expected = reference(image)
        torch.manual_seed(seed)
        op = int(torch.randint(len(augment.RAND_AUGMENT_OPS), ()))
        name = augment.RAND_AUGMENT_OPS[op]
        negative = bool(torch.rand(()) <= 0.5) if name in augment.SIGNED else False
        ours = augment.rand_augment_step(image[None], torch.tensor([op]), torch.tensor([negative]), magnitude=10)[0]
        assert torch.equal(ours, expected), (name, negative)
        seen.add((name, negative))
    assert len(seen) == len(augment.RAND_AUGMENT_OPS) + len(augment.SIGNED)  # every op, both signs where signed


def test_each_image_of_a_batch_gets_its_own_op():
    images = smooth_images(4)
    ops, negative = torch.tensor([1, 5, 6, 13]), torch.tensor([True, False, True, False])
    batched = augment.rand_augment_step(images, ops, negative, magnitude=10)
    for i in range(4):
        alone = augment.rand_augment_step(images[i:i + 1], ops[i:i + 1], negative[i:i + 1], magnitude=10)
        assert torch.equal(batched[i:i + 1], alone)
    assert len({bytes(image.numpy()) for image in batched}) == 4


def test_translation_gives_torchvisions_affine_pixels():
    images = smooth_images(6).float() / 127.5 - 1
    shift_x, shift_y = torch.tensor([0, 3, -2, 5, -7, 30]), torch.tensor([1, -4, 0, 2, 6, 0])
    moved = augment.translate(images, shift_x, shift_y, -1.0)
    for i in range(6):
        expected = TF.affine(images[i], angle=0.0, translate=[int(shift_x[i]), int(shift_y[i])], scale=1.0,
                             shear=[0.0, 0.0], fill=-1.0)
        assert torch.equal(moved[i], expected)


def marker_positions(view, draws: int) -> np.ndarray:
    """(draws, 2) column and row of the one bright pixel of a 32x32 image after `view`."""
    image = -torch.ones(draws, 1, 32, 32)
    image[:, :, 10, 13] = 1.0
    found = view(image).flatten(1).argmax(1)
    return torch.stack([found % 32, found // 32], 1).numpy()


def assert_same_distribution(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Two samples of a discrete variable: chi-square test of homogeneity on their value counts."""
    values = np.union1d(ours, theirs)
    table = np.stack([(ours[:, None] == values).sum(0), (theirs[:, None] == values).sum(0)])
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_weak_view_draws_torchvisions_translations_and_flips():
    torch.manual_seed(0)
    ours = marker_positions(lambda x: augment.weak_augment(x, 0.125, flip=True), 4000)
    reference = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomAffine(degrees=0.0, translate=(0.125, 0.125),
                                                                        fill=-1.0)])
    theirs = marker_positions(lambda x: torch.stack([reference(image) for image in x]), 4000)
    for axis in (0, 1):
        assert_same_distribution(ours[:, axis], theirs[:, axis])
    assert set(np.unique(ours[:, 1])) == set(range(10 - 4, 10 + 5))  # round(U(-4, 4)): -4..4 pixels


def test_cutout_draws_torchvisions_squares():
    torch.manual_seed(0)
    white = torch.full((3000, 3, 20, 20), 255, dtype=torch.uint8)
    erasing = v2.RandomErasing(p=1.0, scale=(0.02, 0.25), ratio=(1.0, 1.0), value=0)
    ours, theirs = augment.cutout(white), torch.stack([erasing(image) for image in white])
    for erased in (ours, theirs):  # one square per image: its pixels' count is a square number
        sides = (erased[:, 0] == 0).sum((1, 2)).double().sqrt()
        assert torch.equal(sides, sides.round())
    assert_same_distribution((ours[:, 0] == 0).sum((1, 2)).numpy(), (theirs[:, 0] == 0).sum((1, 2)).numpy())
    assert_same_distribution((ours[:, 0] == 0).float().argmax(1).amax(1).numpy(),  # the square's last top row
                             (theirs[:, 0] == 0).float().argmax(1).amax(1).numpy())


def test_strong_view_matches_torchvisions_pipeline_in_distribution():
    """RandAugment(2, 10) + Cutout on a fixed image set: per-image mean, spread and black fraction."""
    torch.manual_seed(0)
    images = smooth_images(16).repeat(100, 1, 1, 1)
    ours = augment.to_pixels(augment.strong_augment(images.float() / 127.5 - 1))
    reference = v2.Compose([v2.RandAugment(num_ops=2, magnitude=10),
                            v2.RandomErasing(p=1.0, scale=(0.02, 0.25), ratio=(1.0, 1.0), value=0)])
    theirs = torch.stack([reference(image) for image in images])
    for statistic in (lambda x: x.float().mean((1, 2, 3)), lambda x: x.float().std((1, 2, 3)),
                      lambda x: (x == 0).float().mean((1, 2, 3))):
        assert stats.ks_2samp(statistic(ours).numpy(), statistic(theirs).numpy()).pvalue > 1e-3


@pytest.mark.parametrize("view", ["weak", "strong"])
def test_views_of_imagenet_normalised_images_keep_their_normalisation(view):
    """Images normalised with ImageNet's mean and std: pixels survive the round trip, and what a view
    uncovers or erases is black in that normalisation (not the -1 of [-1, 1])."""
    pixels = smooth_images(8, size=32)
    assert torch.equal(augment.to_pixels(TF.normalize(pixels.float() / 255, IMAGENET_MEAN, IMAGENET_STD),
                                         IMAGENET_MEAN, IMAGENET_STD), pixels)
    flat = TF.normalize(torch.full((8, 3, 32, 32), 200 / 255), IMAGENET_MEAN, IMAGENET_STD)  # moving it changes nothing
    torch.manual_seed(0)
    out = augment.weak_augment(flat, 0.25, False, IMAGENET_MEAN, IMAGENET_STD) if view == "weak" else \
        augment.strong_augment(flat, 0, 10, IMAGENET_MEAN, IMAGENET_STD)  # cutout only
    black = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    changed = (out - flat).abs().amax(1) > 1e-4
    assert changed.sum() > 100
    assert torch.allclose(out.permute(0, 2, 3, 1)[changed], black.expand(int(changed.sum()), 3), atol=1e-5)
