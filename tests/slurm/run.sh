#!/usr/bin/env bash
# The real cluster test: the demo through profiles/slurm on a single-node SLURM (started here),
# against the same demo run locally. Descriptors and kNN indexes must be equal array for array,
# every run's accuracy equal (training is deterministic on CPU).
#   sudo tests/slurm/run.sh [WORK_FOLDER]      # root: it installs and starts SLURM (about 25 minutes)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/sjft-slurm-check}
"$repo/tests/slurm/start_cluster.sh"
mkdir -p "$work/slurm" "$work/local"
# a node without GPU, as a CPU-only cluster's user runs it: model.device cpu (training jobs ask no GPU)
printf 'model:\n  device: cpu\n' > "$work/cpu.yaml"
cp "$repo/config/config.yaml" "$work/slurm/config.yaml"
cp "$repo/config/config.yaml" "$work/local/config.yaml"
cd "$repo"
start=$(date +%s)
# 2 cores: one per training job; job states polled every 5 s, not at the profile's pace
snakemake -s Snakefile -d "$work/slurm" --configfile "$work/slurm/config.yaml" "$work/cpu.yaml" --profile profiles/slurm \
    --set-threads train=1 train_step=1 pretrain=2 knn=2 \
    --slurm-init-seconds-before-status-checks 5 --seconds-between-status-checks 5 -- results/demo/report.csv
echo "through SLURM: $(( $(date +%s) - start )) s, $(sacct -n -X | wc -l) SLURM jobs"
start=$(date +%s)
snakemake -s Snakefile -d "$work/local" --configfile "$work/local/config.yaml" "$work/cpu.yaml" --cores 2 \
    -- results/demo/report.csv
echo "local: $(( $(date +%s) - start )) s"
python tests/slurm/compare.py "$work/slurm" "$work/local"
