"""The embedded default dataset needs no download and no ../shared."""
import torch

from dabench.data.base import DATASETS


def test_mini_digits_domains_share_one_format_and_a_fixed_split():
    dataset = DATASETS.build("mini_digits", root="/nonexistent")
    sizes = {}
    for domain in ("mnist", "optdigits"):
        for split in ("train", "test"):
            x, y = dataset.load(domain, split).tensors
            assert x.shape[1:] == (1, 28, 28) and x.min() >= -1 and x.max() <= 1
            assert y.bincount().min() > 0
            sizes[domain, split] = len(x)
    assert sizes == {("mnist", "train"): 4000, ("mnist", "test"): 1000,
                     ("optdigits", "train"): 1437, ("optdigits", "test"): 360}
    again = DATASETS.build("mini_digits").load("optdigits", "test").tensors[0]
    assert torch.equal(again, dataset.load("optdigits", "test").tensors[0])


def test_optdigits_framing_policy_changes_the_images():
    framed = DATASETS.build({"name": "mini_digits", "optdigits_resize": "frame"}).load("optdigits", "test")
    stretched = DATASETS.build({"name": "mini_digits", "optdigits_resize": "stretch"}).load("optdigits", "test")
    # Framing leaves a 4-pixel empty border (value -1), as in MNIST.
    assert (framed.tensors[0][:, :, :4] == -1).all()
    assert not (stretched.tensors[0][:, :, :4] == -1).all()
