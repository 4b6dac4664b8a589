"""Start-up benchmark: how long ``vit-tui train`` takes to reach its first training step.

Measured separately, each as the median of ``--repeats`` fresh processes:
  imports      a fresh interpreter importing the trainer (torch included);
  cache load   ``load_split`` of both splits of a cached dataset;
  first step   process start of ``vit-tui train`` to its RunStarted event, which is sent
               right before the first step (the time in the event is wall-clock).

    python bench/bench_startup.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = "import time; t = time.perf_counter(); import vit_tui.engine.train.trainer; print(time.perf_counter() - t)"
CACHE = (
    "import sys, time, torch; from vit_tui.data.store import load_split; t = time.perf_counter(); "
    "[load_split(sys.argv[1], s) for s in ('train', 'val')]; print(time.perf_counter() - t)"
)


def _python_seconds(code: str, *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _first_step_seconds(home: Path, run: str, preset: str) -> float:
    start = time.time()
    subprocess.run(
        [sys.executable, "-m", "vit_tui", "--home", str(home), "train", "--preset", preset,
         "--data", str(home / "data" / "demo"), "--set", "train.epochs=1", "--out", str(home / "runs" / run)],
        check=True, capture_output=True, env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    for line in (home / "runs" / run / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "RunStarted":
            return event["started"] - start
    raise SystemExit("no RunStarted event")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="fast")
    args = parser.parse_args()
    from vit_tui.data.demo import make_demo

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        dataset = make_demo(home / "data" / "demo")
        imports = [_python_seconds(IMPORTS) for _ in range(args.repeats)]
        cache = [_python_seconds(CACHE, str(dataset)) for _ in range(args.repeats)]
        first = [_first_step_seconds(home, f"r{i}", args.preset) for i in range(args.repeats)]
    for name, values in (("imports", imports), ("cache_load", cache), ("first_step", first)):
        print(json.dumps({"measure": name, "median_s": round(statistics.median(values), 3), "runs": len(values)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
