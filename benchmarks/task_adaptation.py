"""Task adaptation and transferability on digits, from LeNets that dabench trains itself (CPU, ~20 min).

1. The zoo (configs/benchmarks/zoo_digits_pretrain.yaml): nine source-only LeNets, on MNIST, USPS and MNIST-M
   (grey, 28 px) at 100, 300 and 1,000 steps.
2. Every fine-tuning method from the USPS LeNet (1,000 steps) on MNIST with 10 labels per class
   (configs/benchmarks/task_adaptation_digits.yaml) -> OUT/task_adaptation_digits.
3. For each target domain T: plain fine-tuning on T (10 labels per class, 3 seeds) from each of the six zoo
   models trained on another domain (a grid written to OUT/transferability/zoo_finetune_<T>.yaml), then
   `dabench rank` of those six candidates on T's label budget with the five scores, and Kendall's tau of each
   score against the fine-tuned accuracy -> OUT/transferability/<T>/; a summary in OUT/transferability/taus.md.

    DABENCH_DATA=../shared/data python benchmarks/task_adaptation.py --out benchmarks/results
"""
import argparse
import json
import time
from pathlib import Path

import yaml

from dabench.bench.benchmark import run_benchmark
from dabench.bench.store import ResultStore
from dabench.config import family_config, resolve
from dabench.config_files import merge
from dabench.io import write_bytes_atomic
from dabench.transferability import SCORES
from dabench.transferability.rank import rank

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "benchmarks"
TARGETS = ("mnist", "usps", "mnistm")
STEPS = {"trainer.steps": 300, "trainer.eval_every": 300, "trainer.batch_size": 32}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = Path(parser.parse_args().out)
    started = time.perf_counter()
    zoo = out / "transferability" / "zoo"
    run_benchmark(CONFIGS / "zoo_digits_pretrain.yaml", zoo, progress_bar=False)
    cells = {(row["source"], row["method"]): str(zoo / "cells" / row["config_hash"]) for row in ResultStore(zoo).rows()}

    run_benchmark(CONFIGS / "task_adaptation_digits.yaml", out / "task_adaptation_digits",
                  overrides=[f"model.init_from={cells[('usps', 'lenet_1000')]}"], progress_bar=False)
    print(f"task_adaptation_digits done at {time.perf_counter() - started:.0f} s", flush=True)

    taus = {}
    for target in TARGETS:
        candidates = {f"{source}_{label}": path for (source, label), path in sorted(cells.items()) if source != target}
        grid = {"dataset": "digits", "pairs": [["none", target]], "seeds": [0, 1, 2], "tsne": False,
                "target_labeled": 10, "baseline": f"from_{sorted(candidates)[0]}",
                "methods": [{"name": "fine_tune", "label": f"from_{name}", "overrides": {"model.init_from": path}}
                            for name, path in candidates.items()],
                "overrides": STEPS}
        grid_file = out / "transferability" / f"zoo_finetune_{target}.yaml"
        write_bytes_atomic((f"# Written by benchmarks/task_adaptation.py: plain fine-tuning on {target} from each zoo "
                            f"LeNet trained on another domain.\n" + yaml.safe_dump(grid, sort_keys=False)).encode(),
                           grid_file)
        store = out / "transferability" / f"finetune_{target}"
        run_benchmark(grid_file, store, progress_bar=False)
        # The label budget of seed 0 (the samples `dabench rank` scores); the method is not trained here.
        cfg = resolve(merge(family_config("digits"), {
            "source": "none", "target": target, "target_labeled": 10, "seed": 0,
            "method": {"name": "fine_tune", "allow_random_backbone": True}}))
        print(rank(cfg, list(candidates.values()), SCORES.names(), str(store), out / "transferability" / target),
              flush=True)
        taus[target] = json.loads((out / "transferability" / target / "transferability.json").read_text())["correlations"]
    names = SCORES.names()
    lines = ["| score | " + " | ".join(f"tau on {t}" for t in TARGETS) + " | mean tau | mean weighted tau |",
             "|---|" + "---:|" * (len(TARGETS) + 2)]
    for name in names:
        values = [taus[t][name]["kendall_tau"] for t in TARGETS]
        weighted = [taus[t][name]["weighted_tau"] for t in TARGETS]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values)
                     + f" | {sum(values) / len(values):.3f} | {sum(weighted) / len(weighted):.3f} |")
    write_bytes_atomic(("\n".join(lines) + "\n").encode(), out / "transferability" / "taus.md")
    print("\n".join(lines))
    print(f"wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
