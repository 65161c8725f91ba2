"""Training-step speed: dabench's Trainer against a bare hand-written PyTorch loop.

The bare loop imports nothing of dabench's model, loss or trainer code: it builds the same
network by hand (LeNet, Linear-BN-ReLU 256-d bottleneck, linear head; DANN's 1024-1024-1
discriminator with dropout behind a gradient reversal layer), with the same SGD settings and the
same batch (64 source + 64 target drawn from the same tensors). The two are timed alternately
(dabench first on even repeats, the bare loop first on odd ones), `--repeats` times each, in one
process, and the medians are compared. dabench's time excludes its one final evaluation (timed
apart). Prints a Markdown table.

    python benchmarks/speed.py --steps 300 --repeats 3
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from reference import GradientReversal

from dabench.config import resolve
from dabench.config_files import CONFIG_DIR, load_yaml, merge
from dabench.evaluate import evaluate
from dabench.log import Loggers
from dabench.provenance import device_name
from dabench.run import build


def bare_networks(num_classes: int, adversarial: bool) -> tuple[nn.Module, nn.Module | None]:
    """(classifier, discriminator or None), written by hand as a researcher would."""
    classifier = nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(20, 50, 5), nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(500, 256), nn.BatchNorm1d(256), nn.ReLU(),  # bottleneck: features are this layer's output
        nn.Linear(256, num_classes))
    if not adversarial:
        return classifier, None
    discriminator = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 1))
    return classifier, discriminator


def bare_loop(data, num_classes: int, steps: int, batch: int, adversarial: bool) -> tuple[float, int]:
    """(seconds for `steps` steps, parameter count) of the hand-written loop."""
    classifier, discriminator = bare_networks(num_classes, adversarial)
    modules = nn.ModuleList([classifier] + ([discriminator] if adversarial else []))
    opt = torch.optim.SGD(modules.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
    features_of, head = classifier[:-1], classifier[-1]
    xs, ys, xt = data.source_train.x, data.source_train.y, data.target_train
    start = time.perf_counter()
    for step in range(steps):
        progress = step / steps
        for group in opt.param_groups:
            group["lr"] = 0.01 * (1 + 10 * progress) ** -0.75
        i = torch.randint(len(xs), (batch,))
        j = torch.randint(len(xt), (batch,))
        if adversarial:
            features = features_of(torch.cat([xs[i], xt[j]]))
            coefficient = 2 / (1 + math.exp(-10 * progress)) - 1
            domain = discriminator(GradientReversal.apply(features, coefficient)).squeeze(1)
            labels = torch.cat([torch.ones(batch), torch.zeros(batch)])
            loss = F.cross_entropy(head(features[:batch]), ys[i]) + F.binary_cross_entropy_with_logits(domain, labels)
        else:
            loss = F.cross_entropy(classifier(xs[i]), ys[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start, sum(p.numel() for p in modules.parameters())


def dabench_fit(cfg: dict, steps: int) -> tuple[float, float]:
    """(seconds for the training steps, seconds of the final evaluation)."""
    trainer, _, data, method = build(cfg)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        trainer.fit(method, data, run_dir, Loggers(), seed=cfg["seed"])
        total = time.perf_counter() - start
    start = time.perf_counter()
    evaluate(method, data, trainer.eval_batch_size, trainer.autocast())
    return total - (time.perf_counter() - start), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset-config", default=str(CONFIG_DIR / "datasets" / "mini_digits.yaml"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"device: {device_name(torch.device('cpu'))}; torch {torch.__version__}; "
          f"{args.steps} steps x {args.repeats} repeats; batch {args.batch}+{args.batch}\n")
    print("| method | dabench steps/s | bare loop steps/s | overhead |")
    print("|---|---|---|---|")
    for method in ("source_only", "dann"):
        cfg = resolve(merge(load_yaml(args.dataset_config), {
            "method": method, "trainer": {"steps": args.steps, "batch_size": args.batch, "eval_every": args.steps,
                                          "log_every": 50, "device": "cpu"}}))
        ours, plain = [], []
        _, _, data, built = build(cfg)
        size = sum(p.numel() for p in built.parameters())
        for repeat in range(args.repeats):
            for turn in ((0, 1) if repeat % 2 == 0 else (1, 0)):
                if turn == 0:
                    ours.append(dabench_fit(cfg, args.steps)[0])
                else:
                    seconds, bare_size = bare_loop(data, data.num_classes, args.steps, args.batch, method == "dann")
                    assert bare_size == size, f"the bare network has {bare_size} parameters, dabench's {size}"
                    plain.append(seconds)
        ours_s, plain_s = statistics.median(ours), statistics.median(plain)
        print(f"| {method} | {args.steps / ours_s:.1f} | {args.steps / plain_s:.1f} | "
              f"{100 * (ours_s / plain_s - 1):+.1f}% |")


if __name__ == "__main__":
    main()
