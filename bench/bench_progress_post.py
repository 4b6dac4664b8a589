"""Does a progress update make the training thread wait for the UI?

The real app runs under Textual's headless driver on its Train screen. A plain thread (standing in
for the training thread) sends ``--updates`` step log points through the real ``MessageSink`` into
that screen, unthinned, and times each call. The baseline is the same thread and the same sink
logic posting to a function that does nothing, so the difference is what crossing into the app
costs the sender. Rounds alternate, and the screen drains its queue between them. Prints one
JSON line (times in microseconds).

    python bench/bench_progress_post.py --updates 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from vit_tui.engine.telemetry.events import StepsLogged
from vit_tui.tui.app import VitApp
from vit_tui.tui.bridge import MessageSink


def _log_point(step: int, steps: int) -> StepsLogged:
    return StepsLogged(epoch=1, step=step, steps_per_epoch=steps, global_step=step, loss=2.0 - step / steps,
                       acc=step / steps, lr=1e-3, images_per_s=1000.0, elapsed_s=step * 0.01)  # fmt: skip


def _timed_sends(post, updates: int) -> list[float]:
    """Microseconds each ``sink(event)`` call took in a fresh thread."""
    sink = MessageSink(post, max_rate=1e9)
    took: list[float] = []

    def send() -> None:
        for step in range(1, updates + 1):
            event = _log_point(step, updates)
            start = time.perf_counter_ns()
            sink(event)
            took.append((time.perf_counter_ns() - start) / 1000)

    thread = threading.Thread(target=send)
    thread.start()
    thread.join()
    return took


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_us": round(statistics.median(ordered), 2), "p99_us": round(ordered[int(len(ordered) * 0.99)], 2)}


async def _measure(updates: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        app = VitApp(Path(home))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("escape", "3")  # past the demo-set offer of an empty home
            await pilot.pause(0.5)
            screen = app.screen
            if screen.name != "train":
                raise SystemExit(f"expected the Train screen, got {type(screen).__name__}")
            into_app, baseline = [], []
            for _ in range(repeats):
                baseline += await asyncio.to_thread(_timed_sends, lambda message: None, updates)
                into_app += await asyncio.to_thread(_timed_sends, screen.post_message, updates)
                await pilot.pause(0.5)  # the screen drains the queue before the next round
    app_side, base_side = _summary(into_app), _summary(baseline)
    return {"screen": type(screen).__name__, "updates": updates, "repeats": repeats, "into_app": app_side,
            "baseline_no_op": base_side, "median_ratio": round(app_side["median_us"] / base_side["median_us"], 2)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_measure(args.updates, args.repeats))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
