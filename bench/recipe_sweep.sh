#!/usr/bin/env bash
# Recipe sweep behind the presets: accuracy against epochs for candidate models and recipes on
# cifar10-5 and the demo set, run on a GPU (several processes side by side, fp32 as on a CPU) so
# that the epoch budgets that fit the CPU goals can be chosen from measured curves. Datasets
# are prepared by bench/gpu_check.sh first (bench/out/datasets).
#   bash bench/recipe_sweep.sh [DIR]     DIR holds cifar10-5.tar.gz (default ../shared/data)
# Writes $OUT/sweep.jsonl and sweep.log (or under bench/out); each group stops after 190 s.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out}"
shared="${1:-../shared/data}"
mkdir -p "$out/sweep"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
py=${PYTHON:-python3}

group() {  # group NAME DATA [args...]: one process running its variants one after another
  local name=$1 data=$2
  shift 2
  timeout 190 "$py" bench/bench_accuracy.py --device cuda --shared "$shared" --data "$data" --no-loop --no-preset \
    --set train.precision=fp32 --set train.cuda_graph=auto "$@" --out "$out/sweep/$name.jsonl" >"$out/sweep/$name.log" 2>&1 &
}

cifar=(--preset fast --set train.batch_size=128 --set train.epochs=20 --set train.augment=flip-crop)
group c1 cifar10-5 "${cifar[@]}" \
  --variant base \
  --variant flip train.augment=flip \
  --variant lr3e-3 train.lr=3e-3 \
  --variant lr1e-3 train.lr=1e-3
group c2 cifar10-5 "${cifar[@]}" \
  --variant wd0.1 train.weight_decay=0.1 \
  --variant rrc train.augment=flip-resized-crop \
  --variant ls0-wu2 train.label_smoothing=0 train.warmup_epochs=2 \
  --variant ep16 train.epochs=16
group c3 cifar10-5 "${cifar[@]}" \
  --variant mlp4-ep14 model.mlp_ratio=4 train.epochs=14 \
  --variant e128-ep12 model.embed_dim=128 model.heads=4 train.epochs=12 \
  --variant p16-e192-d6-ep18 model.patch_size=16 model.embed_dim=192 model.blocks=6 train.epochs=18 \
  --variant d6-ep14 model.blocks=6 train.epochs=14
group c4 cifar10-5 "${cifar[@]}" \
  --variant h6 model.heads=6 \
  --variant b256-lr3e-3 train.batch_size=256 train.lr=3e-3 \
  --variant ep40 train.epochs=40 \
  --variant b64-ep20 train.batch_size=64
group a1 cifar10-5 --preset accurate \
  --variant mlp4 model.mlp_ratio=4 \
  --variant lr2e-3 train.lr=2e-3 \
  --variant nodrop-rrc model.dropout=0 train.augment=flip-resized-crop
demo=(--preset fast)
group d1 demo "${demo[@]}" \
  --variant fast-as-is \
  --variant ep30-flip train.epochs=30 \
  --variant ep30-crop train.epochs=30 train.augment=flip-crop \
  --variant ep30-crop-lr3e-3 train.epochs=30 train.augment=flip-crop train.lr=3e-3
group d2 demo "${demo[@]}" \
  --variant ep20-crop train.epochs=20 train.augment=flip-crop \
  --variant ep30-none train.epochs=30 train.augment=none \
  --variant ep30-rrc train.epochs=30 train.augment=flip-resized-crop \
  --variant ep20-crop-b128 train.epochs=20 train.augment=flip-crop train.batch_size=128
wait
cat "$out"/sweep/*.jsonl >"$out/sweep.jsonl"
tail -n 3 "$out"/sweep/*.log >"$out/sweep.log"
rm -rf "$out/sweep"
grep '"summary"' "$out/sweep.jsonl"
