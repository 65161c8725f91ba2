"""GPU speed: dabench against the way published DA code trains, on one GPU, offline (sized for under 8 minutes).

    pip install --no-deps -e . && python benchmarks/gpu_speed.py --out benchmarks/results/gpu_speed

1. DANN on ResNet-50 (random weights: the machine may have no internet), batch 32 + 32, 224 px, on
   synthetic JPEGs with Office-31's domain sizes (Amazon: 2,817 images of 300 x 300; Webcam: 795 of
   640 x 480), Amazon -> Webcam. dabench as configured by default on CUDA (images decoded once on the
   GPU, bf16 autocast, channels_last, fused SGD, TF32, cuDNN benchmark) against a reference loop written
   as published DA code is (torchvision ImageFolder and PIL transforms in a 2-worker DataLoader per
   domain, fp32, loss.item() every step) that imports nothing of dabench. Both run in this process, one
   after the other: steps/s, images/s (source + target), the fraction of a step spent waiting for data,
   peak GPU memory.
2. Host syncs: every registered method runs steps 3-6 of a run under
   torch.cuda.set_sync_debug_mode("error") (the first steps may sync once: cuDNN autotuning, stores);
   a method whose step waits for the GPU is listed with the operation.
3. FixMatch's image views at the same batch and size: torchvision per image against dabench's batched
   views (benchmarks/augment_speed.py), ms per batch.
4. Packing: the same 4 digits runs (mini_digits, LeNet, one per seed) by ``dabench bench --executor
   gpus`` with --runs-per-gpu 1 (one after the other) and 4 (all at once): total steps/s.

Prints Markdown; with --out also writes it, with the device name and date, to OUT/README.md and the
figures to OUT/results.json. A part whose package is missing, or that fails, is reported as skipped with its
reason. --smoke runs every part tiny on the CPU, for a test of the script; its figures mean nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from augment_speed import report as views_report
from augment_speed import views_speed
from reference import GradientReversal

OFFICE31 = {"amazon": (2817, (300, 300)), "webcam": (795, (640, 480)), "dslr": (498, (1000, 1000))}  # (width, height)
CLASSES = 31


def make_images(root: Path, domains: dict, classes: int, seed: int = 0) -> None:
    """JPEGs (quality 90) of smooth random colour fields, `domains` = {name: (count, (width, height))},
    in root/<domain>/<class>/<i>.jpg, classes in turn."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for domain, (count, (width, height)) in domains.items():
        for i in range(count):
            folder = root / domain / f"c{i % classes:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
            image = Image.fromarray(coarse).resize((width, height), Image.BILINEAR)
            image.save(folder / f"{i}.jpg", quality=90)


class StepClock:
    """A dabench logger that notes when each log step's losses arrived (their .item() waits for the GPU)."""

    def __init__(self):
        self.marks: list[tuple[int, float]] = []

    def log(self, step, metrics):
        if "source_val_acc" not in metrics:
            self.marks.append((step, time.perf_counter()))

    def finish(self, summary=None):
        pass


def steps_per_second(marks: list[tuple[int, float]], warmup: int) -> float:
    measured = [(step, t) for step, t in marks if step >= warmup]
    (first_step, first_t), (last_step, last_t) = measured[0], measured[-1]
    return (last_step - first_step) / (last_t - first_t)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dabench_dann(root: Path, args, device: torch.device) -> dict:
    """Steps/s, data fraction and peak memory of dabench's DANN on the synthetic Office-31."""
    from dabench.config import resolve
    from dabench.data.loaders import InfiniteBatches
    from dabench.run import build

    cfg = resolve({"dataset": {"name": "folder", "path": str(root), "image_size": args.image_size,
                               "resize_size": args.image_size * 8 // 7, "workers": args.workers},
                   "source": "amazon", "target": "webcam", "method": "dann",
                   "model": {"backbone": {"name": args.arch, "weights": None}},
                   "trainer": {"steps": args.warmup + args.steps, "batch_size": args.batch, "device": str(device),
                               "eval_every": args.warmup + args.steps, "log_every": args.log_every}})
    trainer, _, data, method = build(cfg)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    clock = StepClock()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer.fit(method, data, run_dir, clock, seed=0)
    rate = steps_per_second(clock.marks, args.warmup)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    # The data part alone: the same batches (decoded-once gathers and crops), timed apart.
    source = InfiniteBatches(data.source_train.x, data.source_train.y, args.batch, 0)
    target = InfiniteBatches(data.target_train, None, args.batch, 7919)
    for step in range(args.log_every):  # the stores are built (decoded) at the first batch
        source.batch(step), target.batch(step)
    synchronize(device)
    start = time.perf_counter()
    for step in range(args.steps):
        source.batch(step), target.batch(step)
    synchronize(device)
    data_s = (time.perf_counter() - start) / args.steps
    return {"steps_per_s": rate, "images_per_s": rate * 2 * args.batch, "data_fraction": data_s * rate,
            "peak_gib": peak, "settings": {k: getattr(trainer, k) for k in (
                "bf16", "compile", "channels_last", "fused_optimizer", "tf32", "cudnn_benchmark")},
            "decoded_once": data.target_train.decodes_once}


def forever(loader):
    while True:
        yield from loader


def reference_dann(root: Path, args, device: torch.device) -> dict:
    """DANN as published DA code writes it (TLlib-style), without dabench: returns steps/s, data fraction, memory."""
    import torchvision
    from torchvision import transforms

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    train_transform = transforms.Compose([
        transforms.Resize(args.image_size * 8 // 7), transforms.RandomResizedCrop(args.image_size),
        transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(mean, std)])
    loaders = [forever(torch.utils.data.DataLoader(
        torchvision.datasets.ImageFolder(str(root / domain), train_transform), batch_size=args.batch, shuffle=True,
        num_workers=2, drop_last=True, pin_memory=device.type == "cuda")) for domain in ("amazon", "webcam")]
    backbone = getattr(torchvision.models, args.arch)(weights=None)
    features = backbone.fc.in_features
    backbone.fc = nn.Identity()
    bottleneck = nn.Sequential(nn.Linear(features, 256), nn.BatchNorm1d(256), nn.ReLU())
    head = nn.Linear(256, CLASSES)
    discriminator = nn.Sequential(nn.Linear(256, 1024), nn.BatchNorm1d(1024), nn.ReLU(), nn.Linear(1024, 1024),
                                  nn.BatchNorm1d(1024), nn.ReLU(), nn.Linear(1024, 1))
    model = nn.ModuleList([backbone, bottleneck, head, discriminator]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-3, nesterov=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    total = args.warmup + args.steps
    waited, start = 0.0, None
    for step in range(total):
        if step == args.warmup:
            waited, start = 0.0, time.perf_counter()
        before = time.perf_counter()
        (x_s, y_s), (x_t, _) = next(loaders[0]), next(loaders[1])
        waited += time.perf_counter() - before
        x_s, y_s, x_t = x_s.to(device), y_s.to(device), x_t.to(device)
        f = bottleneck(backbone(torch.cat([x_s, x_t])))
        progress = step / total
        coefficient = 2 / (1 + np.exp(-10 * progress)) - 1
        domain = discriminator(GradientReversal.apply(f, coefficient)).squeeze(1)
        labels = torch.cat([torch.ones(len(x_s)), torch.zeros(len(x_t))]).to(device)
        loss = F.cross_entropy(head(f[:len(x_s)]), y_s) + F.binary_cross_entropy_with_logits(domain, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # the published loops log every step
    elapsed = time.perf_counter() - start
    rate = args.steps / elapsed
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"steps_per_s": rate, "images_per_s": rate * 2 * args.batch, "data_fraction": waited / elapsed,
            "peak_gib": peak}


def sync_report(root: Path, args, device: torch.device) -> list[dict]:
    """For every method: whether steps 3-6 of a short run wait for the GPU, and where."""
    from dabench.config import resolve
    from dabench.config_files import merge
    from dabench.methods.base import METHODS
    from dabench.run import build
    from dabench.testing import method_sections

    rows = []
    for name in METHODS.names():
        sections = method_sections(name, sources=["amazon", "dslr"], known_classes=list(range(CLASSES // 2)))
        if name == "mixstyle":
            sections["method"] = {"name": "mixstyle", "layers": ["layer1"]}
        base = {"dataset": {"name": "folder", "path": str(root), "image_size": 64, "resize_size": 72, "workers": 4},
                "source": "amazon", "target": "webcam", "model": {"backbone": {"name": "resnet18", "weights": None}},
                "trainer": {"steps": 6, "batch_size": 8, "eval_every": 6, "log_every": 6, "device": str(device)}}
        calls = itertools.count()
        try:
            trainer, _, data, method = build(resolve(merge(base, sections)))
            trainer.step_guard = lambda: syncs_forbidden() if next(calls) >= 2 else contextlib.nullcontext()
            with tempfile.TemporaryDirectory() as run_dir:
                trainer.fit(method, data, run_dir, StepClock(), seed=0)
            rows.append({"method": name, "syncs": False, "where": ""})
        except RuntimeError as err:
            if "synchronizing" not in str(err):
                rows.append({"method": name, "syncs": None, "where": f"error: {str(err).splitlines()[0][:120]}"})
                continue
            frames = [f for f in traceback.extract_tb(err.__traceback__) if "dabench" in f.filename]
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} `{frames[-1].line}`" if frames else ""
            rows.append({"method": name, "syncs": True, "where": where})
        except Exception as err:  # noqa: BLE001 - one method's failure must not hide the others' figures
            rows.append({"method": name, "syncs": None, "where": f"error: {type(err).__name__}: {err}"[:160]})
    return rows


@contextlib.contextmanager
def syncs_forbidden():
    """CUDA operations that wait for the device raise inside (torch.cuda.set_sync_debug_mode)."""
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(0)


def packing(args, device: torch.device, out: Path) -> dict:
    """Total steps/s of `args.packed` digits runs (4) by `dabench bench --executor gpus`, one at a time and all
    at once."""
    grid = out / "packing.yaml"
    steps, where = args.digits_steps, "cuda" if device.type == "cuda" else "cpu"
    grid.write_text(f"dataset: mini_digits\npairs: [[mnist, optdigits]]\nmethods: [dann]\n"
                    f"seeds: {list(range(args.packed))}\n"
                    f"overrides: {{trainer.steps: {steps}, trainer.eval_every: {steps}, trainer.device: {where}}}\n"
                    f"tsne: false\nfigures: false\n")  # the runs' throughput, not the figures'
    figures = {}
    for runs in sorted({1, args.packed}):
        start = time.perf_counter()
        executor = ["--executor", "gpus", "--runs-per-gpu", str(runs)] if device.type == "cuda" else \
            ["--workers", str(runs)]
        done = subprocess.run([sys.executable, "-m", "dabench", "bench", str(grid), "--out", str(out / f"packed{runs}"),
                               "--quiet", *executor], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"dabench bench failed: {done.stderr.strip().splitlines()[-1:]}")
        figures[runs] = args.packed * args.digits_steps / (time.perf_counter() - start)
    return {"one_at_a_time_steps_per_s": figures[1], "all_at_once_steps_per_s": figures[args.packed],
            "runs": args.packed, "ratio": figures[args.packed] / figures[1]}


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="write README.md and results.json here")
    parser.add_argument("--steps", type=int, default=200, help="measured steps per loop")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32, help="per domain")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="dabench's decoding processes")
    parser.add_argument("--digits-steps", type=int, default=1500)
    parser.add_argument("--smoke", action="store_true", help="every part tiny, on the CPU: checks the script only")
    args = parser.parse_args()
    args.packed = 4  # digits runs packed on one GPU
    domains = OFFICE31
    if args.smoke:
        args.steps, args.warmup, args.log_every, args.batch, args.image_size, args.arch = 4, 2, 2, 4, 32, "resnet18"
        args.workers, args.digits_steps, args.packed = 0, 10, 1  # 1 run: each worker process imports torch anew
        domains = {domain: (40, (size[0] // 8, size[1] // 8)) for domain, (_, size) in OFFICE31.items()}
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    today = datetime.date.today().isoformat()
    lines = [f"# GPU speed: {device_name(device)}, {today}", "",
             f"torch {torch.__version__}; `python benchmarks/gpu_speed.py{' --smoke' if args.smoke else ''}`; "
             f"DANN {args.arch} (random weights), batch {args.batch} + {args.batch}, {args.image_size} px, "
             f"{args.steps} steps after {args.warmup} of warm-up.", ""]
    results: dict = {"device": device_name(device), "date": today, "torch": torch.__version__, "smoke": args.smoke}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        make_images(scratch / "images", domains, CLASSES)
        parts = [("reference", lambda: reference_dann(scratch / "images", args, device)),
                 ("dabench", lambda: dabench_dann(scratch / "images", args, device)),
                 ("views", lambda: views_speed(device, args.batch, args.image_size)),
                 ("packing", lambda: packing(args, device, scratch))]
        if device.type == "cuda":
            parts.insert(2, ("syncs", lambda: sync_report(scratch / "images", args, device)))
        results.update(run_parts(parts))
    lines += report(results)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "README.md").write_text(text)
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")


def run_parts(parts: list) -> dict:
    """{name: figures} of each (name, part) run alone: a missing package or a failure (a GPU out of memory, a
    `dabench bench` that exits non-zero) skips only that part, with the reason, so one device run keeps the rest."""
    results = {}
    for name, part in parts:
        try:
            results[name] = part()
        except ImportError as err:
            results[name] = {"skipped": f"needs {err.name}"}
        except Exception as err:  # noqa: BLE001 - reported in the table, the traceback on stderr
            traceback.print_exc()
            results[name] = {"skipped": f"failed: {type(err).__name__}: {err}"}
        print(f"{name}: done", file=sys.stderr, flush=True)
    return results


def report(results: dict) -> list[str]:
    """Markdown tables of the figures."""
    lines = []
    ours, theirs = results["dabench"], results["reference"]
    lines += ["| DANN loop | steps/s | images/s | waiting for data | peak GPU memory (GiB) |", "|---|---|---|---|---|"]
    for label, row in (("dabench", ours), ("reference (PIL, 2 workers, fp32, .item())", theirs)):
        lines.append(f"| {label} | skipped ({row['skipped']}) | | | |" if "skipped" in row else
                     f"| {label} | {row['steps_per_s']:.2f} | {row['images_per_s']:.0f} | "
                     f"{100 * row['data_fraction']:.0f}% | {row['peak_gib']:.2f} |")
    lines.append("")
    if "skipped" not in ours and "skipped" not in theirs:
        lines += [f"dabench / reference: **{ours['steps_per_s'] / theirs['steps_per_s']:.2f}x** steps/s. "
                  f"dabench's settings: {ours['settings']}; images decoded once: {ours['decoded_once']}. "
                  f"dabench's data share is the GPU time of its batch gathers and crops, timed apart.", ""]
    if "syncs" in results:
        rows = results["syncs"]
        if isinstance(rows, dict):
            lines += [f"Host syncs: skipped ({rows['skipped']})", ""]
        else:
            syncing = [r for r in rows if r["syncs"]]
            failed = [r for r in rows if r["syncs"] is None]
            lines += [f"Host syncs in steps 3-6: {len(rows) - len(syncing) - len(failed)} of {len(rows)} methods "
                      f"are sync-free.", ""]
            if syncing or failed:
                lines += ["| method | syncs at |", "|---|---|"]
                lines += [f"| {r['method']} | {r['where']} |" for r in syncing + failed]
                lines.append("")
    else:
        lines += ["Host syncs: not checked (needs CUDA).", ""]
    views = results["views"]
    lines += [f"FixMatch views: skipped ({views['skipped']})" if "skipped" in views else
              "\n".join(views_report([views])), ""]
    packed = results["packing"]
    if "skipped" in packed:
        lines += [f"Packing: skipped ({packed['skipped']})"]
    else:
        runs = packed["runs"]
        lines += [f"| {runs} digits runs (mini_digits, LeNet, DANN) | total steps/s |", "|---|---|",
                  f"| one at a time | {packed['one_at_a_time_steps_per_s']:.1f} |",
                  f"| {runs} at once | {packed['all_at_once_steps_per_s']:.1f} |", "",
                  f"{runs} at once / one at a time: **{packed['ratio']:.2f}x** (process start-up included)."]
    return lines


if __name__ == "__main__":
    main()
