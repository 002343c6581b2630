"""The order export's worker: the sync/async threshold, duplicate and concurrent deliveries,
claims and takeovers, deadline and temp-space failures, multipart upload, the sweeper's
repairs, and a run through the local runtime (helpers in export_helpers.py)."""
from __future__ import annotations

import json
import urllib.parse
import uuid
from decimal import Decimal
from typing import Any, Callable

import pytest

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.bootstrap import services
from chalicelib.domain.chunk import Outcome
from chalicelib.domain.run import RunResult
from chalicelib.service import lifecycle
from chalicelib.service.export_formats import YONGYOU_COLUMNS
from chalicelib.domain.task import CANCELLED_REASON, FINAL_STATUSES, TaskStatus
from chalicelib.service.engine import chunk_message
from infra.local.seed_orders import seed_orders
from tests.integration.conftest import http, wait_for
from tests.integration.engine_helpers import (app_runtime, chunks, count, details, drain,
                                              queue_bodies, services_with, sweeper)
from tests.integration.export_helpers import (HEADERS, URL, D, csv_rows, download, export,
                                              exported_keys, order_nos, seeded_orders, xlsx_rows)

pytestmark = pytest.mark.usefixtures("empty_exports")


def claim_elsewhere(svc: Any, task_id: int, *, lease_s: int = 300, attempts: int = 1) -> None:
    """Another worker claimed the export's chunk (its `attempts`th claim) and started the
    task; its lease ends `lease_s` from now (negative: it died that long ago)."""
    def tx(cur: Any) -> None:
        chunk_repo.claim(cur, task_id, 0, uuid.uuid4().hex, lease_s)
        cur.execute("UPDATE tbl_task_chunk SET attempts=%s WHERE task_id=%s", (attempts, task_id))
        lifecycle.start(cur, task_repo.get_any_station(cur, task_id, for_update=True))
    svc.db.run(tx)


def no_uploads_left(svc: Any) -> bool:
    files = svc.files
    return files.s3.list_multipart_uploads(Bucket=files.bucket).get("Uploads", []) == []


# -- sync / async threshold and the worker ------------------------------------------------
def test_twenty_orders_answer_with_a_link(api, station_token):
    dates = seeded_orders(20)
    status, resp = export(api, station_token, query_type=1, **dates)
    assert resp["data"]["async"] == 0
    assert len(xlsx_rows(download(resp["data"]["link"]))) == 1 + 100
    assert count("tbl_async_task") == 0 and queue_bodies(services()) == []


def test_twenty_one_orders_start_an_export_task(api, station_token):
    dates = seeded_orders(21)
    status, resp = export(api, station_token, query_type=1, format="csv", **dates)
    assert status == 200 and resp["data"]["async"] == 1 and "link" not in resp["data"]
    task_url = resp["data"]["task_url"]
    task_id = int(task_url.rsplit("=", 1)[1])
    assert task_url == f"/task/get?task_id={task_id}"
    assert exported_keys() == []
    status, got = api.get("/task/get", {"task_id": task_id}, token=station_token)
    assert got["data"]["status"] == TaskStatus.SUBMITTED and got["data"]["type"] == 1
    assert got["data"]["counts"]["total"] == 1         # one item: the file

    assert drain(services()) == [RunResult.COMPLETE]
    status, got = api.get("/task/get", {"task_id": task_id}, token=station_token)
    item = got["data"]
    assert item["status"] == TaskStatus.FINISHED
    assert item["progress"] == 100 and item["run_count"] == 1
    assert item["counts"]["succeeded"] == 1
    assert item["result"]["rows"] == 105 and item["result"]["format"] == "csv"
    assert "file_key" not in item["result"]
    rows = csv_rows(download(item["result"]["link"]))
    assert len(rows) == 1 + 105 and rows[0] == HEADERS
    assert exported_keys() == [f"exports/s001/{task_id}/orderdetail.csv"]
    files = services().files
    head = files.s3.head_object(Bucket=files.bucket, Key=exported_keys()[0])
    assert head["ContentType"] == "text/csv; charset=utf-8"
    assert head["ContentDisposition"] == (
        "attachment; filename*=UTF-8''%E8%AE%A2%E5%8D%95%E6%98%8E%E7%BB%86.csv")   # 订单明细.csv
    # another station cannot see the task
    status, other = api.get("/task/get", {"task_id": task_id}, token=_token("s002"))
    assert status == 404


def _token(station: str) -> str:
    from chalicelib.api.auth import issue_token
    return issue_token(station, services().settings.token_secret)


def start_async(api: Any, token: str, fmt: str = "xlsx", n_orders: int = 25) -> int:
    dates = seeded_orders(n_orders)
    status, resp = export(api, token, query_type=1, format=fmt, **dates)
    assert resp["data"]["async"] == 1, resp
    return resp["data"]["task_id"]


def task_row(task_id: int) -> dict[str, Any]:
    def q(cur: Any) -> dict[str, Any]:
        cur.execute("SELECT status, run_count, progress, reason, result FROM tbl_async_task"
                    " WHERE id=%s", (task_id,))
        return cur.fetchone()
    return services().db.run(q)


def test_duplicate_delivery_writes_one_file_and_finishes_once(api, station_token):
    task_id = start_async(api, station_token)
    svc = services()
    svc.queue.send([chunk_message(task_id, 0)])                 # SQS delivers twice
    assert sorted(drain(svc)) == [RunResult.COMPLETE, RunResult.SKIPPED]
    first = task_row(task_id)
    assert first["status"] == TaskStatus.FINISHED and first["run_count"] == 1
    # late deliveries after it finished, also in the shape of the old export message
    for late in (chunk_message(task_id, 0), {"kind": "export", "task_id": task_id}):
        assert svc.messages.handle(json.dumps(late), lambda: 10 ** 9) == RunResult.SKIPPED
    assert task_row(task_id) == first
    assert exported_keys() == [f"exports/s001/{task_id}/orderdetail.xlsx"]
    rows = xlsx_rows(download(svc.files.link(exported_keys()[0])))
    assert len(rows) == 1 + 125


def test_an_export_message_of_the_previous_release_runs_the_export(api, station_token):
    """Messages queued before the export moved onto the engine name only the task."""
    task_id = start_async(api, station_token, fmt="csv")
    svc = services()
    queue_bodies(svc)
    assert svc.messages.handle(json.dumps({"kind": "export", "task_id": task_id}),
                               lambda: 10 ** 9) == RunResult.COMPLETE
    assert task_row(task_id)["status"] == TaskStatus.FINISHED
    assert exported_keys() == [f"exports/s001/{task_id}/orderdetail.csv"]


def test_two_deliveries_at_once_run_the_export_once(api, station_token):
    from concurrent.futures import ThreadPoolExecutor
    task_id = start_async(api, station_token, fmt="csv", n_orders=2000)
    svc = services()
    body = json.dumps(chunk_message(task_id, 0))
    queue_bodies(svc)
    with ThreadPoolExecutor(2) as pool:      # each thread has its own DB connection
        outcomes = list(pool.map(lambda _: svc.messages.handle(body, lambda: 10 ** 9), range(2)))
    assert sorted(outcomes) == [RunResult.COMPLETE, RunResult.SKIPPED]
    assert (task_row(task_id)["run_count"], task_row(task_id)["status"]) == (1, TaskStatus.FINISHED)
    assert exported_keys() == [f"exports/s001/{task_id}/orderdetail.csv"]
    assert [c["attempts"] for c in chunks(task_id)] == [1]


def test_a_dead_workers_export_is_taken_over(api, station_token):
    task_id = start_async(api, station_token)
    svc = services()
    claim_elsewhere(svc, task_id, lease_s=-3600)
    assert drain(svc) == [RunResult.COMPLETE]
    assert (task_row(task_id)["status"], task_row(task_id)["run_count"]) == (TaskStatus.FINISHED, 1)
    assert [c["attempts"] for c in chunks(task_id)] == [2]


def test_a_live_workers_export_is_left_alone(api, station_token):
    task_id = start_async(api, station_token)
    svc = services()
    claim_elsewhere(svc, task_id)
    assert drain(svc) == [RunResult.SKIPPED]
    assert task_row(task_id)["status"] == TaskStatus.RUNNING and exported_keys() == []


def after_first_call(then: Callable[[], int]) -> Callable[[], int]:
    """A worker's clock: plenty of time when the run starts, then `then()` (called from the
    export's first batch on)."""
    calls = iter(range(10 ** 9))
    return lambda: 10 ** 9 if next(calls) == 0 else then()


def test_a_run_that_lost_its_lease_leaves_no_file(api, station_token):
    task_id = start_async(api, station_token, fmt="csv")
    svc = services()

    def taken_over() -> int:        # another worker takes the chunk over while this one writes
        svc.db.run(lambda cur: cur.execute(
            "UPDATE tbl_task_chunk SET lease_token='another' WHERE task_id=%s", (task_id,)))
        return 10 ** 9
    assert drain(svc, remaining_ms=after_first_call(taken_over)) == [RunResult.LEASE_LOST]
    assert task_row(task_id)["status"] == TaskStatus.RUNNING and exported_keys() == []
    assert no_uploads_left(svc) and details(task_id) == []


def test_cancel_stops_a_running_export_and_leaves_no_file(api, station_token):
    task_id = start_async(api, station_token, fmt="csv")
    svc = services()

    def cancel_meanwhile() -> int:
        svc.control.cancel("s001", task_ids=[task_id])
        return 10 ** 9
    assert drain(svc, remaining_ms=after_first_call(cancel_meanwhile)) == [RunResult.COMPLETE]
    row = task_row(task_id)
    assert row["status"] == TaskStatus.FAILED and row["reason"].startswith(CANCELLED_REASON)
    assert [d["outcome"] for d in details(task_id)] == [Outcome.CANCELLED]
    assert exported_keys() == [] and no_uploads_left(svc)


def test_near_the_deadline_the_export_fails_with_a_reason(api, station_token):
    task_id = start_async(api, station_token)
    svc = services()
    assert drain(svc, remaining_ms=after_first_call(lambda: 1000)) == [RunResult.COMPLETE]
    row = task_row(task_id)
    assert row["status"] == TaskStatus.FAILED and "time limit" in row["reason"]
    assert exported_keys() == [] and no_uploads_left(svc)


def test_an_xlsx_too_big_for_the_temp_space_fails_and_a_retry_runs_it(api, station_token):
    task_id = start_async(api, station_token, n_orders=200)      # 1000 rows: ~1.7 MB
    assert drain(services_with(export_tmp_mb=1)) == [RunResult.COMPLETE]
    row = task_row(task_id)
    assert row["status"] == TaskStatus.FAILED
    assert "temporary space" in row["reason"] and "CSV" in row["reason"]
    assert exported_keys() == []
    # with the space there, the user's retry writes the file
    status, resp = api.post("/task/retry", {"task_id": task_id}, token=station_token)
    assert status == 200 and resp["code"] == 0, resp
    assert drain(services()) == [RunResult.COMPLETE]
    row = task_row(task_id)
    assert (row["status"], row["run_count"]) == (TaskStatus.FINISHED, 2)
    assert json.loads(row["result"])["rows"] == 1000
    assert exported_keys() == [f"exports/s001/{task_id}/orderdetail.xlsx"]


def test_large_csv_goes_up_in_several_parts(api, station_token):
    task_id = start_async(api, station_token, fmt="csv", n_orders=12_000)
    svc = services_with(export_part_mb=5, export_heartbeat_s=0.0)
    assert drain(svc) == [RunResult.COMPLETE]
    row = task_row(task_id)
    assert row["status"] == TaskStatus.FINISHED and json.loads(row["result"])["rows"] == 60_000
    key = exported_keys()[0]
    head = svc.files.s3.head_object(Bucket=svc.files.bucket, Key=key, PartNumber=1)
    assert head["PartsCount"] >= 2
    body = svc.files.s3.get_object(Bucket=svc.files.bucket, Key=key)["Body"].read()
    rows = csv_rows(body)
    assert len(rows) == 1 + 60_000 and rows[-1][0] == order_nos(rows)[-1]
    assert sum(Decimal(r[13]) for r in rows[1:]) > 0


def test_seed_orders_adds_exactly_n_lines_five_per_order():
    db = services().db
    seeded = seed_orders(db, "s009", 12, until=D(2026, 5, 1), days=30)
    assert (seeded.orders, seeded.lines) == (3, 12)

    def q(cur: Any) -> list[dict[str, Any]]:
        cur.execute("SELECT o.order_no, COUNT(*) AS n, MIN(o.order_time) AS t, MIN(o.area) AS area,"
                    " SUM(l.amount) AS lines_total, MIN(o.total_amount) AS total"
                    " FROM tbl_order o JOIN tbl_order_line l ON l.order_id = o.id"
                    " WHERE o.station_id = 's009' GROUP BY o.order_no ORDER BY o.order_no", ())
        return list(cur.fetchall())
    orders = db.run(q)
    assert [o["n"] for o in orders] == [5, 5, 2]
    assert all(o["lines_total"] == o["total"] > 0 for o in orders)
    assert all(D(2026, 4, 1) <= o["t"] <= D(2026, 5, 1) and o["area"].endswith("区")
               for o in orders)


# -- through the local runtime: HTTP server, queue, worker process -----------------------
def test_async_export_end_to_end_through_the_runtime(db_clean, stack_env, monkeypatch,
                                                     station_token):
    dates = seeded_orders(300)
    with app_runtime(monkeypatch, stack_env, 2, EXPORT_HEARTBEAT_S="0.05") as rt:
        query = urllib.parse.urlencode({"query_type": 1, "format": "yongyou", **dates})
        status, resp = http("GET", f"{rt.url}{URL}?{query}", station_token)
        assert status == 200 and resp["data"]["async"] == 1, resp

        def final():
            _, got = http("GET", rt.url + resp["data"]["task_url"], station_token)
            return got["data"] if got["data"]["status"] in FINAL_STATUSES else None
        task = wait_for(final, 60, "the export to finish")
    assert task["status"] == TaskStatus.FINISHED and task["progress"] == 100 and task["type"] == 1
    assert task["result"]["rows"] == 1500 and task["result"]["format"] == "yongyou"
    rows = xlsx_rows(download(task["result"]["link"]))
    assert rows[0] == [h for h, _ in YONGYOU_COLUMNS] and len(rows) == 1 + 1500


# -- repairs by the sweeper's schedule ----------------------------------------------------
def test_sweep_resends_a_lost_message_and_a_dead_workers_export(api, station_token):
    lost = start_async(api, station_token, fmt="csv")
    dead = start_async(api, station_token, fmt="csv")
    svc = services()
    queue_bodies(svc)                                   # both messages are lost
    svc.db.run(lambda cur: cur.execute(
        "UPDATE tbl_task_chunk SET queued_at=UTC_TIMESTAMP(3) - INTERVAL 1 HOUR"
        " WHERE task_id=%s", (lost,)))
    claim_elsewhere(svc, dead, lease_s=-3600)
    report = sweeper(svc).sweep()
    assert (report.stale_queued, report.expired_leases, report.errors) == (1, 1, [])
    assert sorted(drain(svc)) == [RunResult.COMPLETE, RunResult.COMPLETE]
    assert (task_row(lost)["status"], task_row(lost)["run_count"]) == (TaskStatus.FINISHED, 1)
    assert (task_row(dead)["status"], task_row(dead)["run_count"]) == (TaskStatus.FINISHED, 1)
    again = sweeper(svc).sweep()
    assert (again.stale_queued, again.expired_leases, again.failed_chunks) == (0, 0, 0)


def test_sweep_leaves_fresh_exports_and_fails_one_that_keeps_dying(api, station_token):
    fresh = start_async(api, station_token, fmt="csv")
    dying = start_async(api, station_token, fmt="csv")
    svc = services()
    attempts = svc.settings.max_chunk_attempts
    claim_elsewhere(svc, dying, lease_s=-3600, attempts=attempts)
    report = sweeper(svc).sweep()
    assert (report.failed_chunks, report.expired_leases, report.stale_queued) == (1, 0, 0)
    row = task_row(dying)
    assert row["status"] == TaskStatus.FAILED and f"重试 {attempts} 次后放弃" in row["reason"]
    assert task_row(fresh)["status"] == TaskStatus.SUBMITTED
    assert sorted(drain(svc)) == [RunResult.COMPLETE, RunResult.SKIPPED]
    assert task_row(fresh)["status"] == TaskStatus.FINISHED
