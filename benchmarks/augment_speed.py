"""FixMatch's image views on one device: torchvision's transforms one image at a time (as FixMatch code applies
them) against dabench's batched views (dabench.data.augment). Milliseconds per batch; the run alone on the machine.

    python benchmarks/augment_speed.py [--device cuda] [--batch 32] [--sizes 28 224] [--out DIR]

Weak: RandomAffine(translate=0.125). Strong: RandAugment(2, 10) + RandomErasing(scale=(0.02, 0.25), ratio 1),
on uint8 pixels. Both take and return images in [-1, 1] on the device, as FixMatch's loss hands them over.
"""
from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch
from torchvision.transforms import v2


def per_image_views():
    """(weak, strong): each a function of (N, C, H, W) images in [-1, 1], one torchvision call per image."""
    shift = v2.RandomAffine(degrees=0.0, translate=(0.125, 0.125), fill=-1.0)
    rand_augment = v2.Compose([v2.RandAugment(num_ops=2, magnitude=10),
                               v2.RandomErasing(p=1.0, scale=(0.02, 0.25), ratio=(1.0, 1.0), value=0)])

    def weak(images):
        return torch.stack([shift(image) for image in images])

    def strong(images):
        pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return torch.stack([rand_augment(image) for image in pixels]).float() / 127.5 - 1

    return weak, strong


def milliseconds(view, images: torch.Tensor, repeats: int) -> float:
    """Median wall time of `view(images)` over `repeats` calls after one warm-up call, the device synchronised."""
    view(images)
    times = []
    for _ in range(repeats):
        if images.is_cuda:
            torch.cuda.synchronize(images.device)
        start = time.perf_counter()
        view(images)
        if images.is_cuda:
            torch.cuda.synchronize(images.device)
        times.append(1000 * (time.perf_counter() - start))
    return sorted(times)[len(times) // 2]


def views_speed(device: torch.device, batch: int, size: int, channels: int = 3, repeats: int = 5) -> dict:
    """ms per batch of `batch` images of `size` px for both views, per image and batched."""
    from dabench.data.augment import strong_augment, weak_augment  # here: gpu_speed.py imports this file without it

    images = torch.rand(batch, channels, size, size, device=device) * 2 - 1
    weak, strong = per_image_views()
    return {"batch": batch, "size": size, "channels": channels,
            "weak_per_image_ms": milliseconds(weak, images, repeats),
            "weak_batched_ms": milliseconds(weak_augment, images, repeats),
            "strong_per_image_ms": milliseconds(strong, images, repeats),
            "strong_batched_ms": milliseconds(strong_augment, images, repeats)}


def report(rows: list[dict]) -> list[str]:
    lines = ["| images | weak, per image (ms) | weak, batched (ms) | strong, per image (ms) | strong, batched (ms) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['batch']} x {r['channels']} x {r['size']}² | {r['weak_per_image_ms']:.1f} | "
              f"{r['weak_batched_ms']:.1f} | {r['strong_per_image_ms']:.1f} | {r['strong_batched_ms']:.1f} |"
              for r in rows]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 224])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the report to OUT/README.md")
    args = parser.parse_args()
    from dabench.provenance import device_name

    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = [views_speed(device, args.batch, size, 1 if size <= 32 else 3, args.repeats) for size in args.sizes]
    text = "\n".join([f"# FixMatch's image views: {device_name(device)}, {datetime.date.today().isoformat()}", "",
                      f"torch {torch.__version__}; `python benchmarks/augment_speed.py --device {args.device} "
                      f"--repeats {args.repeats}`; "
                      f"median of {args.repeats} calls.", "", *report(rows)]) + "\n"
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "README.md").write_text(text)


if __name__ == "__main__":
    main()
