"""Training-step speed: dabench's Trainer against a plain hand-written PyTorch loop.

Same model (LeNet + 256-d bottleneck), same batch (64 source + 64 target), same SGD
settings, same process; the two are timed alternately, `--repeats` times each, and the
medians are compared. dabench's time excludes its one final evaluation (timed apart
and reported). Prints a Markdown table.

    python benchmarks/speed.py --steps 300 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from dabench.config import CONFIG_DIR, load_yaml, merge, resolve
from dabench.evaluate import evaluate
from dabench.log import Loggers
from dabench.losses.adversarial import dann_coefficient, grad_reverse
from dabench.provenance import device_name
from dabench.run import build
from dabench.trainer import inv_factor


def plain_loop(method, data, steps: int, batch: int, adversarial: bool) -> float:
    """What a researcher would write by hand; returns seconds for `steps` steps."""
    model = method.model
    params = list(method.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
    xs, ys, xt = data.source_train.x, data.source_train.y, data.target_train
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 0.01 * inv_factor(step / steps)
        i = torch.randint(len(xs), (batch,))
        j = torch.randint(len(xt), (batch,))
        if adversarial:
            out = model(torch.cat([xs[i], xt[j]]))
            disc = method.alignment["adv"].discriminator
            domain = disc(grad_reverse(out.features, dann_coefficient(step / steps)))
            labels = torch.cat([torch.ones(batch), torch.zeros(batch)])
            loss = F.cross_entropy(out.logits[:batch], ys[i]) + F.binary_cross_entropy_with_logits(domain.squeeze(1), labels)
        else:
            loss = F.cross_entropy(model(xs[i]).logits, ys[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


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
    print("| method | dabench steps/s | plain loop steps/s | overhead |")
    print("|---|---|---|---|")
    for method in ("source_only", "dann"):
        cfg = resolve(merge(load_yaml(args.dataset_config), {
            "method": method, "trainer": {"steps": args.steps, "batch_size": args.batch, "eval_every": args.steps,
                                          "log_every": 50, "device": "cpu"}}))
        ours, plain = [], []
        for _ in range(args.repeats):
            ours.append(dabench_fit(cfg, args.steps)[0])
            _, _, data, built = build(cfg)
            plain.append(plain_loop(built, data, args.steps, args.batch, adversarial=method == "dann"))
        ours_s, plain_s = statistics.median(ours), statistics.median(plain)
        print(f"| {method} | {args.steps / ours_s:.1f} | {args.steps / plain_s:.1f} | "
              f"{100 * (ours_s / plain_s - 1):+.1f}% |")


if __name__ == "__main__":
    main()
