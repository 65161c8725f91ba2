"""Task adaptation and transferability on digits, from LeNets that dabench trains itself (CPU, ~15 min).

1. The zoo (configs/benchmarks/zoo_digits_pretrain.yaml): six source-only LeNets, on USPS and on MNIST-M
   at 100, 300 and 1,000 steps.
2. Every fine-tuning method from the USPS LeNet (1,000 steps) on MNIST with 10 labels per class
   (configs/benchmarks/task_adaptation_digits.yaml) -> OUT/task_adaptation_digits.
3. Plain fine-tuning from each zoo model on MNIST, 10 labels per class, 3 seeds (a grid written to
   OUT/transferability/zoo_finetune.yaml), then `dabench rank` of the six candidates on the same label budget
   with the five scores, and Kendall's tau of each score against the fine-tuned accuracy -> OUT/transferability.

    DABENCH_DATA=../shared/data python benchmarks/task_adaptation.py --out benchmarks/results
"""
import argparse
import time
from pathlib import Path

import yaml

from dabench.bench.benchmark import run_benchmark
from dabench.bench.store import load_results
from dabench.config import family_config, merge, resolve
from dabench.transferability import SCORES
from dabench.transferability.rank import rank

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "benchmarks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = Path(parser.parse_args().out)
    started = time.perf_counter()
    zoo = out / "transferability" / "zoo"
    run_benchmark(CONFIGS / "zoo_digits_pretrain.yaml", zoo, progress_bar=False)
    rows = load_results(zoo)
    cells = {f"{row['source']}_{row['method']}": str(zoo / "cells" / row["config_hash"]) for row in rows.to_dict("records")}
    print("zoo:", {name: path for name, path in cells.items()}, flush=True)

    run_benchmark(CONFIGS / "task_adaptation_digits.yaml", out / "task_adaptation_digits",
                  overrides=[f"model.init_from={cells['usps_lenet_1000']}"], progress_bar=False)
    print(f"task_adaptation_digits done at {time.perf_counter() - started:.0f} s", flush=True)

    grid = {"dataset": "digits", "pairs": [["none", "mnist"]], "seeds": [0, 1, 2], "tsne": False,
            "target_labeled": 10, "baseline": "from_usps_lenet_1000",
            "methods": [{"name": "fine_tune", "label": f"from_{name}", "overrides": {"model.init_from": path}}
                        for name, path in sorted(cells.items())],
            "overrides": {"trainer.steps": 300, "trainer.eval_every": 300, "trainer.batch_size": 32}}
    grid_file = out / "transferability" / "zoo_finetune.yaml"
    grid_file.write_text("# Written by benchmarks/task_adaptation.py: plain fine-tuning from each zoo LeNet.\n"
                         + yaml.safe_dump(grid, sort_keys=False))
    run_benchmark(grid_file, out / "transferability" / "finetune", progress_bar=False)
    # The label budget of seed 0 (the samples `dabench rank` scores); the method is not trained here.
    cfg = resolve(merge(family_config("digits"), {"source": "none", "target": "mnist", "target_labeled": 10, "seed": 0,
                                                  "method": {"name": "fine_tune", "allow_random_backbone": True}}))
    print(rank(cfg, list(cells.values()), SCORES.names(), str(out / "transferability" / "finetune"),
               out / "transferability"))
    print(f"wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
