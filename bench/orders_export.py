"""Order export figures: 1,000,000 order lines to CSV and to XLSX on S3 through the worker.

    export_1m_csv_s / export_1m_xlsx_s        task creation -> status 3, from the task's own
                                              DB timestamps (the file is complete on S3)
    export_1m_*_peak_rss_mb                   peak RSS (VmHWM) of the local runtime's worker
                                              process that ran the export; each worker's
                                              high-water mark is reset before the run
                                              (/proc/<pid>/clear_refs = 5)
    export_worker_idle_rss_mb                 the same workers' RSS before the run (imports,
                                              warm clients): what the export adds is the rest

The orders are generated once per bench (infra/local/seed_orders.py: 200,000 orders x 5
lines in station "bx01", spread over 180 days) and exported with one query_type 1 request
covering them all, through the same service the HTTP route calls.
"""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

STATION = "bx01"
LINES = 1_000_000
UNTIL = dt.datetime(2026, 6, 30, 12)


def _worker_pids(bench: Any) -> list[int]:
    return [i["pid"] for i in bench.runtime.instances if i["handler"] == "work"]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")     # VmHWM := current RSS


def run_export(bench: Any, fmt: str) -> tuple[float, float, float, dict[str, Any]]:
    """(seconds, peak RSS MB of the busiest worker, idle RSS MB, task result) for one export."""
    from chalicelib.service.export_query import OrderDetailQuery
    pids = _worker_pids(bench)
    idle = max(_status_kb(pid, "VmRSS") for pid in pids) / 1024
    _reset_peaks(pids)
    q = OrderDetailQuery(query_type=1,
                         start_date=(UNTIL - dt.timedelta(days=200)).date().isoformat(),
                         end_date=UNTIL.date().isoformat(), format=fmt)
    data = bench.svc.kind("order_detail_export").request(STATION, q)
    assert data["async"] == 1, data
    seconds = bench.wait_final(data["task_id"], timeout_s=900)
    peak = max(_status_kb(pid, "VmHWM") for pid in pids) / 1024
    result = bench.svc.tasks.get(STATION, task_id=data["task_id"]).result
    assert result["rows"] == LINES, result
    return seconds, peak, idle, result


def export_section(bench: Any, results: dict[str, Any]) -> None:
    from bench.run import RUNS, figure
    from infra.local.seed_orders import seed_orders
    started = time.monotonic()
    seeded = seed_orders(bench.svc.db, STATION, LINES, until=UNTIL, days=180)
    results["seed_orders_1m_s"] = figure([seeded.seconds], "s", 1)
    print(f"seeded {seeded.lines} lines in {seeded.seconds:.1f} s", flush=True)
    idle_all = []
    for fmt in ("csv", "xlsx"):
        secs, peaks = [], []
        for _ in range(RUNS):
            seconds, peak, idle, result = run_export(bench, fmt)
            secs.append(seconds)
            peaks.append(peak)
            idle_all.append(idle)
            print(f"export {fmt}: {seconds:.1f} s, peak RSS {peak:.0f} MB (idle {idle:.0f} MB)",
                  flush=True)
        results[f"export_1m_{fmt}_s"] = figure(secs, "s", 2)
        results[f"export_1m_{fmt}_peak_rss_mb"] = figure(peaks, "MB", 1)
    results["export_worker_idle_rss_mb"] = figure(idle_all, "MB", 1)
    results["export_config"] = {"lines": LINES, "orders": seeded.orders, "runs": RUNS,
                                "section_s": round(time.monotonic() - started, 1)}
