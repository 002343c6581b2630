"""Order batch import figure (`python -m bench.run --only orders_import`).

    import_10k_rows_s   a 10,000-row batch (3 lines per order, every 500th row bad) POSTed
                        to /station/order/batch/submit over HTTP on the local runtime, until
                        the task is final (its end_time); the runtime's 4 worker processes
                        do the work. Target <= 5 s.
    import_10k_request_ms   of which the HTTP request itself (5 MB body: parse, envelope
                            checks, task + chunk plan + row parts in one transaction)
"""
from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import uuid
from typing import Any

ROWS = 10_000
TIME_CONFIG = "s001-bench-import"
PRODUCTS = [("SKU-APPLE", "富士苹果", "斤", "6.80"), ("SKU-EGG", "土鸡蛋", "盒", "12.00"),
            ("SKU-CABBAGE", "大白菜", "斤", "1.20"), ("SKU-MILK", "鲜牛奶", "瓶", "4.50")]


def order_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(1, n + 1):
        lines = [{"sku": sku, "name": name, "unit": unit, "quantity": str(1 + (i + k) % 5),
                  "unit_price": price}
                 for k, (sku, name, unit, price) in enumerate(PRODUCTS[:3] if i % 2 else
                                                              PRODUCTS[1:])]
        if i % 500 == 0:
            lines[0]["quantity"] = "0"          # a bad row: reported, not inserted
        rows.append({"customer_name": f"客户{i % 3000}", "customer_id": f"C{i % 3000:05d}",
                     "address": f"北京市朝阳区建国路{i % 200}号", "area": "朝阳",
                     "order_time": "2026-11-27 19:30:00",
                     "receive_time": "2026-11-28 08:00:00", "lines": lines})
    return rows


def submit_seconds(bench: Any, token: str, rows: list[dict[str, Any]],
                   request_ms: list[float] | None = None) -> float:
    """Seconds from just before the request to the task's end_time (one clock: this host's);
    the request's own duration is appended to `request_ms`."""
    body = json.dumps({"task_id": f"bench-{uuid.uuid4().hex[:12]}", "time_config_id": TIME_CONFIG,
                       "order_data": rows, "file_name": "bench.xlsx"},
                      ensure_ascii=False).encode()
    req = urllib.request.Request(bench.runtime.url + "/station/order/batch/submit", data=body,
                                 method="POST", headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": "application/json"})
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        task_id = json.loads(resp.read())["data"]["task_id"]
    if request_ms is not None:
        request_ms.append((time.perf_counter() - t0) * 1000)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = bench.row(task_id)
        if row["status"] in (3, 4, 5):
            expected = (len(rows) - len(rows) // 500, len(rows) // 500)
            got = (row["succeeded_items"], row["failed_items"])
            if row["status"] != 4 or got != expected:
                raise RuntimeError(f"import task {task_id} ended {row['status']} {got}")
            return (row["end_time"] - started).total_seconds()
        time.sleep(0.02)     # polling a benchmark's end condition
    raise TimeoutError(f"import task {task_id} not final")


def import_section(bench: Any, results: dict[str, Any]) -> None:
    from bench.run import RUNS, figure
    from chalicelib.adapters import order_repo
    from chalicelib.api.auth import issue_token
    bench.svc.db.run(lambda cur: order_repo.upsert_time_config(
        cur, "s001", TIME_CONFIG, "bench cycle", dt.time(18, 0)))
    token = issue_token("s001", bench.svc.settings.token_secret)
    rows = order_rows(ROWS)
    submit_seconds(bench, token, rows[:2000])        # warm the instances' import path
    request_ms: list[float] = []
    results["import_10k_rows_s"] = figure([submit_seconds(bench, token, rows, request_ms)
                                           for _ in range(RUNS)], "s")
    results["import_10k_request_ms"] = figure(request_ms, "ms", 1)
