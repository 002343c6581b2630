"""Bench sections of the scheduling (#14): time slices, station fairness, the shared budget.

    fairness   fairness_budgeted_s         1-item task behind a 20,000-item one, budget 200/s, 50 ms
               fairness_slow_downstream_s  1-item task behind a 100,000-item one, latency 1,000 ms
               noisy_station_s             station B's 100-item task while station A runs 5 x 20,000
               budget_peak_ratio           busiest 1-s window at the fake / 200, 4 busy workers
    budget     single_task_budget_use      one 3,000-item task, budget 200/s: achieved / 200
               adaptive_goodput            fake capacity 150/s (429 above), ceiling 400/s:
                                           achieved / 150, and adaptive_429_share (429s / calls)
               capacity_model_points       model vs measured items/s (docs/capacity.md)

Each scenario runs the local runtime with its own settings (4 workers x 10 threads, chunks
of 1,000, SLICE_SECONDS 5), then the bench's own runtime is started again for the sections
after it. Figures are medians of BENCH_RUNS (3) runs; throughput figures use N of a few
thousand items (a rate, not a total: 15-20 s per run).
"""
from __future__ import annotations

import json
import time
import urllib.request
from contextlib import contextmanager
from typing import Any, Iterator

SLICE_S = 5.0
WORKERS, THREADS = 4, 10


@contextmanager
def runtime(bench: Any, **env: str) -> Iterator[Any]:
    """The app under the local runtime with `env` on top of the bench's settings; the
    bench's own runtime is stopped meanwhile (one fleet on the queue at a time)."""
    from infra.local.runtime import LocalRuntime
    from bench.run import ROOT
    bench.runtime.stop()
    rt = LocalRuntime(app_ref="app:app", stage="dev", port=0, project_dir=str(ROOT),
                      env={**bench.env, "SLICE_SECONDS": str(SLICE_S), **env})
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()
        bench.runtime = LocalRuntime(app_ref="app:app", stage="dev", port=0, env=bench.env,
                                     project_dir=str(ROOT))
        bench.runtime.start()


def windows(bench: Any) -> dict[str, float]:
    return json.loads(urllib.request.urlopen(bench.fake_url + "/_windows").read())


def reset_fake(bench: Any) -> None:
    urllib.request.urlopen(urllib.request.Request(bench.fake_url + "/_reset", data=b"",
                                                  method="POST")).read()


def wait_busy(bench: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while bench.running_chunks() < WORKERS:
        if time.monotonic() > deadline:
            raise TimeoutError("workers never all busy")
        time.sleep(0.02)        # polling a benchmark's start condition


def station_b(bench: Any, n: int) -> tuple[int, int, list[int]]:
    from infra.local.demo import ensure_products, ensure_shop
    src = ensure_shop(bench.svc.db, "s002", "bench b source")
    dst = ensure_shop(bench.svc.db, "s002", "bench b target")
    return src, dst, ensure_products(bench.svc.db, "s002", src, n)


def create_b(bench: Any, n: int) -> int:
    from chalicelib.service.copy_tasks import CopyTaskRequest
    src, dst, ids = station_b(bench, n)
    req = CopyTaskRequest(source_shop_id=src, target_shop_id=dst, product_ids=ids[:n],
                          repeat=True)
    return bench.svc.kind("product_copy").create("s002", req).task.id


def behind(bench: Any, big_items: int, tasks: int = 1, small: int = 1,
           other_station: bool = False) -> float:
    """Seconds from creating a small task to its end, while big tasks fill every worker."""
    for _ in range(tasks):
        bench.create(big_items)
    wait_busy(bench)
    small_id = create_b(bench, small) if other_station else bench.create(small)
    seconds = bench.wait_final(small_id)
    bench.cancel_all()
    return seconds


def fairness_section(bench: Any, results: dict[str, Any]) -> None:
    from bench.run import RUNS, figure
    budgeted, peaks = [], []
    with runtime(bench, PRODUCT_CENTER_RATE="200"):
        bench.fake_config(latency_ms=50)
        for _ in range(RUNS):
            bench.create(20_000)
            wait_busy(bench)
            reset_fake(bench)                      # the busiest window of busy workers only
            small = bench.create(1)
            budgeted.append(bench.wait_final(small))
            time.sleep(3.0)                        # a few seconds of all 4 workers at the budget
            peaks.append(windows(bench)["busiest_1s"] / 200)
            bench.cancel_all()
    results["fairness_budgeted_s"] = figure(budgeted, "s")
    results["budget_peak_ratio"] = figure(peaks, "busiest 1-s window / budget")
    with runtime(bench):
        bench.fake_config(latency_ms=1000)
        results["fairness_slow_downstream_s"] = figure(
            [behind(bench, 100_000) for _ in range(RUNS)], "s")
        bench.fake_config(latency_ms=50)
        results["noisy_station_s"] = figure(
            [behind(bench, 20_000, tasks=5, small=100, other_station=True) for _ in range(RUNS)],
            "s")
    results["fairness_config"] = {"slice_s": SLICE_S, "workers": WORKERS, "threads": THREADS,
                                  "chunk_size": 1000, "runs": RUNS}


def items_per_s(bench: Any, n: int) -> tuple[float, dict[str, int]]:
    reset_fake(bench)
    seconds = bench.wait_final(bench.create(n))
    return n / seconds, bench.fake_stats()


def budget_section(bench: Any, results: dict[str, Any]) -> None:
    from bench.run import RUNS, figure
    n = 3000
    with runtime(bench, PRODUCT_CENTER_RATE="200"):
        bench.fake_config(latency_ms=50)
        bench.wait_final(bench.create(40))                       # connections, budget row
        use = [items_per_s(bench, n)[0] / 200 for _ in range(RUNS)]
        results["single_task_budget_use"] = figure(use, "achieved/budget")
    with runtime(bench, PRODUCT_CENTER_RATE="400"):
        bench.fake_config(latency_ms=50, capacity_per_s=150, capacity_queue_s=0.25)
        goodput, share = [], []
        for _ in range(RUNS):
            rate, stats = items_per_s(bench, n)
            goodput.append(rate / 150)
            share.append(stats["throttled"] / max(1, stats["requests"]))
        bench.fake_config(capacity_per_s=0)
        results["adaptive_goodput"] = figure(goodput, "achieved/capacity")
        results["adaptive_429_share"] = figure(share, "429s/calls", 4)
    # model: items/s = min(budget, workers x threads / latency)
    points = []
    with runtime(bench):
        bench.fake_config(latency_ms=100)             # 4 chunks of 1,000: all 4 workers
        measured = [items_per_s(bench, 4000)[0] for _ in range(RUNS)]
        points.append(_point("no budget, 4 x 10, 100 ms", WORKERS * THREADS / 0.1, measured))
    points.append(_point("budget 200/s, 4 x 10, 50 ms", 200,
                         [u * 200 for u in results["single_task_budget_use"]["runs"]]))
    points.append(_point("capacity 150/s, ceiling 400/s, 4 x 10, 50 ms", 150,
                         [g * 150 for g in results["adaptive_goodput"]["runs"]]))
    results["capacity_model_points"] = points


def _point(setting: str, model: float, runs: list[float]) -> dict[str, Any]:
    import statistics
    measured = statistics.median(runs)
    return {"setting": setting, "model_items_per_s": round(model, 1),
            "measured_items_per_s": round(measured, 1),
            "measured_over_model": round(measured / model, 3)}
