#!/usr/bin/env bash
# GPU check for a short loan, from a fresh checkout: `vit-tui doctor --json`, every `gpu`-marked test
# and the training-speed bench, then one summary JSON and a one-screen verdict.
#   bash bench/gpu_check.sh [--accuracy] [DIR]
# --accuracy adds the accuracy runs (cifar10-5 from DIR, default ../shared/data, and the demo set), the
# streaming bench and the multi-GPU scaling bench: outside the time budget below.
#
# Time budget (one H100, start-up of the machine not counted): at most 6 minutes, each part cut by its
# own `timeout`:
#   msgspec from .whl/ + env.txt     30 s
#   vit-tui doctor --json            90 s   (six probes, each at most 20 s; about 30 s on an H100)
#   pytest -m gpu                   150 s   (test_graph_step, test_gpu_first_run, test_doctor, test_gpu_facts,
#                                            test_streaming)
#   bench_train.py                   90 s   (batch 16 and 256, 2048 images, 2 epochs)
#   total                           360 s = 6 min
#
# Needs only torch, numpy, pillow, nvidia-ml-py, pytest and msgspec: no textual, rich, pycocotools or plotext
# (the doctor prints plain text without rich). A machine without msgspec and without internet takes it
# from .whl/ in the repository root, fetched beforehand on a machine with pip and internet (.whl/ is
# git-ignored; carry it to the GPU machine):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl msgspec
# Results land in $OUT (or bench/out when OUT is unset): env.txt, doctor.json, doctor.txt, gpu_tests.log,
# bench_gpu.jsonl, summary.json (each part's exit code and seconds, the doctor's probes, the test counts).
set -uo pipefail
cd "$(dirname "$0")/.."
accuracy=0
if [ "${1:-}" = "--accuracy" ]; then accuracy=1; shift; fi
out="${OUT:-bench/out}"
shared="${1:-../shared/data}"
mkdir -p "$out"
py=${PYTHON:-python3}
declare -A rc secs

part() {  # part NAME SECONDS COMMAND...: run under its timeout, keep its exit code and duration
  local name=$1 limit=$2 start=$SECONDS
  shift 2
  timeout "$limit" "$@"
  rc[$name]=$?
  secs[$name]=$((SECONDS - start))
}

setup() {
  if ! "$py" -c 'import msgspec' 2>/dev/null; then
    if ! compgen -G '.whl/msgspec-*.whl' >/dev/null; then
      echo "msgspec is missing and .whl/ holds no msgspec wheel; fetch it as the header says" >&2
      return 2
    fi
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .whl/msgspec-*.whl || return 2
  fi
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } >"$out/env.txt" 2>&1
  cat "$out/env.txt"
}
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

part setup 30 bash -c "$(declare -f setup); py='$py' out='$out' setup"
part doctor 90 bash -o pipefail -c "'$py' -m vit_tui doctor --device cuda --json '$out/doctor.json' 2>&1 | tee '$out/doctor.txt'"
part gpu_tests 150 bash -o pipefail -c "'$py' -m pytest --noconftest -p no:cacheprovider -o addopts='' -q -m gpu \
  tests/test_graph_step.py tests/test_gpu_first_run.py tests/test_doctor.py tests/test_gpu_facts.py \
  tests/test_streaming.py 2>&1 | tee '$out/gpu_tests.log'"
part bench 90 bash -o pipefail -c "'$py' bench/bench_train.py --device cuda --images 2048 --epochs 2 --batches 16,256 --jpeg \
  2>&1 | tee '$out/bench_gpu.jsonl'"

if [ "$accuracy" = 1 ]; then
  acc=(timeout 150 "$py" bench/bench_accuracy.py --device cuda --shared "$shared" --set train.cuda_graph=auto
    --out "$out/accuracy_gpu.jsonl")
  "${acc[@]}" --data cifar10-5 --preset accurate --no-loop
  "${acc[@]}" --data cifar10-5 --preset fast
  "${acc[@]}" --data demo --preset fast
  timeout 150 "$py" bench/bench_streaming.py --device cuda --images 8192 --batch 256 --epochs 3 --repeats 1 \
    2>&1 | tee "$out/streaming_gpu.txt"
  gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
  if [ "${gpus:-0}" -gt 1 ]; then
    timeout 600 "$py" bench/bench_distributed.py --device cuda --procs "1,$gpus" --batch $((128 * gpus)) \
      --images 20000 --epochs 4 2>&1 | tee "$out/distributed_gpu.txt"
  fi
fi

parts=""
for name in setup doctor gpu_tests bench; do
  parts+="\"$name\": {\"rc\": ${rc[$name]}, \"seconds\": ${secs[$name]}}, "
done
"$py" - "$out" "{${parts%, }}" <<'PY'
import json, re, sys
from pathlib import Path

out, parts = Path(sys.argv[1]), json.loads(sys.argv[2])
summary = {"parts": parts, "total_seconds": sum(p["seconds"] for p in parts.values())}
try:
    doctor = json.loads((out / "doctor.json").read_text())
    summary["doctor"] = {c["name"]: c["status"] for c in doctor["checks"]}
except (OSError, ValueError):
    summary["doctor"] = "no report"
log = (out / "gpu_tests.log").read_text() if (out / "gpu_tests.log").is_file() else ""
summary["gpu_tests"] = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", log)}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
ok = all(p["rc"] == 0 for p in parts.values())
print("\n== GPU check verdict ==")
for name, part in parts.items():
    mark = "ok " if part["rc"] == 0 else ("TIMEOUT" if part["rc"] == 124 else f"FAIL rc={part['rc']}")
    print(f"  {name:10s} {mark:10s} {part['seconds']:4d} s")
print(f"  doctor probes: {summary['doctor']}")
print(f"  gpu tests: {summary['gpu_tests']}")
print(f"  total {summary['total_seconds']} s (budget 360 s) -> {'PASS' if ok else 'FAIL'}; details in {out}/summary.json")
sys.exit(0 if ok else 1)
PY
