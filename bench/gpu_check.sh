#!/usr/bin/env bash
# GPU check in one go (under 5 minutes on one H200): the CUDA tests, then the training
# benchmark at the reference's size. Needs only torch, torchvision, numpy, pillow,
# scikit-learn, matplotlib and pytest: no UI module is imported. Results land in $OUT
# (or bench/out when OUT is unset):
#   gpu_tests.log      pytest output of the CUDA tests
#   bench_gpu.jsonl    one JSON line per benchmark configuration
#   env.txt            GPU, driver, torch
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
py=${PYTHON:-python3}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } >"$out/env.txt" 2>&1
cat "$out/env.txt"

timeout 120 "$py" -m pytest --noconftest -p no:cacheprovider -o addopts="" -q -m gpu tests/test_graph_step.py 2>&1 | tee "$out/gpu_tests.log"

timeout 170 "$py" bench/bench_train.py --device cuda --images 7500 --epochs 4 2>&1 | tee "$out/bench_gpu.jsonl"
