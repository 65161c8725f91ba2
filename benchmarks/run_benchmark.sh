#!/usr/bin/env bash
# Run configs/benchmarks/NAME.yaml into results/NAME and publish its tables and figures,
# with the exact command, wall time and machine, under benchmarks/results/NAME/.
#   bash benchmarks/run_benchmark.sh quickstart [extra dabench bench arguments]
set -euo pipefail
name=$1; shift
cmd="dabench bench configs/benchmarks/$name.yaml --out results/$name $*"
start=$(date +%s)
$cmd --quiet
wall=$(( $(date +%s) - start ))
dest=benchmarks/results/$name
mkdir -p "$dest"
cp results/$name/table.md results/$name/table.csv results/$name/table.tex "$dest"/
cp -r results/$name/figures "$dest"/
{
  echo "# $name"
  echo
  echo "Command: \`${cmd% }\` (DABENCH_DATA=${DABENCH_DATA:-unset})"
  echo
  echo "Wall time: ${wall} s on $(python -c 'from dabench.provenance import device_name; import torch; print(device_name(torch.device("cuda" if torch.cuda.is_available() else "cpu")))'), $(date -u +%Y-%m-%d)."
  echo
  echo "The tables and figures here are copied from results/$name, the run's store (not committed)."
} > "$dest/README.md"
echo "published $dest (${wall} s)"
