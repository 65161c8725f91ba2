"""RoTTA's memory bank on a continual stream: how much of it comes from the domain being streamed.

    python benchmarks/rotta_memory.py configs/streams/digits_c.yaml --out runs/rotta_memory [KEY=VALUE ...]

Runs `dabench stream CONFIG method=rotta` (seed 0 unless overridden) and records, at each of RoTTA's updates (every
64 arrivals), the share of the bank's samples that arrived during the current domain and the share of arrivals that
entered the bank since the last update. Prints the first, middle and last share per domain and the mean acceptance,
and writes every update to OUT/memory_log.json. Used in benchmarks/results/tta_digits_c/README.md to read RoTTA's
collapse on contrast.
"""
import argparse
import json
import sys
from pathlib import Path

from dabench.cli import main
from dabench.config_files import load_yaml
from dabench.stream.methods import rotta


def record_bank(log: list[dict], per_domain: int) -> None:
    """Wrap MemoryBank.add so that each update appends {arrivals, domain, current_share, accepted_share,
    top_label_share}: the bank's share from the current domain, the share of the last 64 arrivals that entered it,
    and the share of those arrivals given their most frequent pseudo-label."""
    add = rotta.MemoryBank.add
    entered, labels = [], []

    def recording_add(self, x, label, entropy):
        add(self, x, label, entropy)
        entered.append(any(sample is x for members in self.entries for sample, _, _ in members))
        labels.append(label)
        if self.arrivals % 64 == 0:
            domain = (self.arrivals - 1) // per_domain
            arrivals = [arrival for members in self.entries for _, _, arrival in members]
            log.append({"arrivals": self.arrivals, "domain": domain,
                        "current_share": sum(a // per_domain == domain for a in arrivals) / len(arrivals),
                        "accepted_share": sum(entered) / len(entered),
                        "top_label_share": max(labels.count(c) for c in set(labels)) / len(labels)})
            entered.clear()
            labels.clear()

    rotta.MemoryBank.add = recording_add


def main_probe() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--out", required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = Path(args.out)
    per_domain = load_yaml(args.config)["dataset"].get("test_images")
    if per_domain is None:
        sys.exit("rotta_memory: the stream config must set dataset.test_images (the arrivals per domain)")
    log = []
    record_bank(log, per_domain)
    code = main(["stream", args.config, "--out", str(out), "method=rotta", "--quiet", *args.overrides])
    targets = json.loads((out / "result.json").read_text())["targets"]
    (out / "memory_log.json").write_text(json.dumps(log, indent=1))
    print("domain               bank from this domain (first/middle/last update)  arrivals entering  top pseudo-label")
    for d, name in enumerate(targets):
        rows = [r for r in log if r["domain"] == d]
        shares = [r["current_share"] for r in rows]
        accepted = sum(r["accepted_share"] for r in rows) / len(rows)
        top = sum(r["top_label_share"] for r in rows) / len(rows)
        print(f"{name:20s} {shares[0]:.2f} / {shares[len(shares) // 2]:.2f} / {shares[-1]:.2f}{'':34s}{accepted:.2f}"
              f"{'':15s}{top:.2f}")
    return code


if __name__ == "__main__":
    sys.exit(main_probe())
