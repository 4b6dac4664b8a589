#!/usr/bin/env bash
# GPU check in one go (about 4 minutes on one H200): the CUDA tests, the training-speed benchmark,
# then the accuracy benchmark on cifar10-5 and the demo set. Needs only torch, torchvision, numpy,
# pillow, scikit-learn, matplotlib, nvidia-ml-py, pytest and msgspec (the engine reads run files back
# through vit_tui/schemas.py): no UI module is imported.
#   bash bench/gpu_check.sh [DIR]    DIR holds cifar10-5.tar.gz (default ../shared/data)
# A machine without msgspec and without internet takes it from .whl/ in the repository root, fetched
# beforehand on a machine with pip and internet (.whl/ is git-ignored; carry it to the GPU machine):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl msgspec
# Results land in $OUT (or bench/out when OUT is unset):
#   env.txt             GPU, driver, torch
#   gpu_tests.log       pytest output of the CUDA tests (capture holds for a whole run; captured == eager;
#                       NVML facts of the training GPU)
#   bench_gpu.jsonl     bench_train.py: engine against the in-memory loop, batch 16 / 256 / 1024
#   accuracy_gpu.jsonl  bench_accuracy.py: accurate and fast on cifar10-5, fast on the demo set
#   streaming_gpu.txt   the CUDA streaming test (pinned copies on a side stream) and bench_streaming.py
#   distributed_gpu.txt bench_distributed.py: images/s on 1 GPU against all visible GPUs (skipped with one GPU)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out}"
shared="${1:-../shared/data}"
mkdir -p "$out"
py=${PYTHON:-python3}
if ! "$py" -c 'import msgspec' 2>/dev/null; then
  if ! compgen -G '.whl/msgspec-*.whl' >/dev/null; then
    echo "msgspec is missing and .whl/ holds no msgspec wheel; fetch it as the header says" >&2
    exit 2
  fi
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/msgspec-*.whl \
    || exit 2
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
accuracy=(timeout 150 "$py" bench/bench_accuracy.py --device cuda --shared "$shared" --set train.cuda_graph=auto
  --out "$out/accuracy_gpu.jsonl")

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } >"$out/env.txt" 2>&1
cat "$out/env.txt"

timeout 120 "$py" -m pytest --noconftest -p no:cacheprovider -o addopts="" -q -m gpu tests/test_graph_step.py tests/test_gpu_facts.py 2>&1 | tee "$out/gpu_tests.log"

timeout 120 "$py" bench/bench_train.py --device cuda --images 4096 --epochs 4 --batches 16,256,1024 --jpeg 2>&1 | tee "$out/bench_gpu.jsonl"

"${accuracy[@]}" --data cifar10-5 --preset accurate --no-loop
"${accuracy[@]}" --data cifar10-5 --preset fast
"${accuracy[@]}" --data demo --preset fast

{ timeout 120 "$py" -m pytest --noconftest -p no:cacheprovider -o addopts="" -q -m gpu tests/test_streaming.py
  timeout 150 "$py" bench/bench_streaming.py --device cuda --images 8192 --batch 256 --epochs 3 --repeats 1; } 2>&1 | tee "$out/streaming_gpu.txt"
# Data-parallel scaling (DDP over NCCL): one GPU against every visible one, same global batch.
gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
if [ "${gpus:-0}" -gt 1 ]; then
  timeout 600 "$py" bench/bench_distributed.py --device cuda --procs "1,$gpus" --batch $((128 * gpus)) --images 20000 \
    --epochs 4 2>&1 | tee "$out/distributed_gpu.txt"
else
  echo "distributed: ${gpus:-0} GPU(s) visible; 1 GPU against all skipped" | tee "$out/distributed_gpu.txt"
fi
