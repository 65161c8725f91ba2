"""Image-loading throughput: how many images per second dabench's lazy image streams deliver.

Writes `--images` JPEGs of Office-31's typical size (300x300, random content) into a
temporary folder dataset, then times `--batches` training batches (Resize 256 ->
RandomResizedCrop 224 -> flip -> ImageNet normalisation, the TLlib recipe) through
InfiniteBatches, for each number of decoding worker processes. Prints a Markdown table.

    python benchmarks/image_loading.py --images 256 --batches 20 --workers 0 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dabench.data.base import DATASETS
from dabench.data.loaders import InfiniteBatches
from dabench.provenance import device_name


def write_images(root: Path, count: int, size: int = 300) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        path = root / "domain" / f"class{i % 4}" / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, quality=90)


def images_per_second(root: Path, workers: int, batches: int, batch_size: int) -> float:
    dataset = DATASETS.build({"name": "folder", "path": str(root), "workers": workers})
    files, labels = dataset.load("domain", "train").tensors
    stream = InfiniteBatches(files, labels, batch_size, seed=0)
    stream.batch(0)  # start the workers before timing
    started = time.perf_counter()
    for step in range(1, batches + 1):
        stream.batch(step)
    return batches * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_images(Path(tmp), args.images)
        print(f"device: {device_name(torch.device('cpu'))}; {args.batches} batches of {args.batch_size} 224x224 training views\n")
        print("| workers | images/s |\n|---|---|")
        for workers in args.workers:
            print(f"| {workers} | {images_per_second(Path(tmp), workers, args.batches, args.batch_size):.0f} |")


if __name__ == "__main__":
    main()
