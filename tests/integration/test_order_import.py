"""POST /station/order/batch/submit: rows checked and inserted by the worker, bad rows reported
by row number, no order inserted twice, station isolation, envelope errors."""
from __future__ import annotations

import csv
import datetime as dt
import io
import urllib.request
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.adapters import order_import_repo, order_repo
from chalicelib.bootstrap import services
from chalicelib.domain.run import RunResult
from chalicelib.service import order_import
from chalicelib.service.slices import Slice
from chalicelib.domain.task import FINAL_STATUSES, TaskStatus
from chalicelib import texts
from tests.refusals import assert_refused
from tests.integration.engine_helpers import (app_runtime, chunks, count, details, drain,
                                              queue_bodies, services_with)
from tests.integration.conftest import http, wait_for
from tests.integration.import_helpers import SUBMIT, TC, batch, order_row


@pytest.fixture
def cycles(db_clean):
    def setup(cur: Any) -> None:
        order_repo.upsert_time_config(cur, "s001", TC, "默认运营时间", dt.time(18, 0))
        order_repo.upsert_time_config(cur, "s002", "s002-tc", "其他站", dt.time(18, 0))
    services().db.run(setup)


def submit_and_run(api, token: str, rows: list[Any], **change: Any) -> dict[str, Any]:
    status, resp = api.post(SUBMIT, batch(rows, **change), token=token)
    assert status == 200 and resp["code"] == 0, resp
    assert resp["data"]["task_url"] == f"/task/get?task_id={resp['data']['task_id']}"
    drain(services())
    status, got = api.get("/task/get", {"task_id": resp["data"]["task_id"]}, token=token)
    assert status == 200
    return got["data"]


def rows_of(sql: str, *args: Any) -> list[dict[str, Any]]:
    def q(cur: Any) -> list[dict[str, Any]]:
        cur.execute(sql, args)
        return list(cur.fetchall())
    return services().db.run(q)


def orders_of(task_id: int) -> list[dict[str, Any]]:
    return rows_of("SELECT * FROM tbl_order WHERE import_task_id=%s ORDER BY import_row_no",
                   task_id)


def report_rows(task: dict[str, Any]) -> list[list[str]]:
    with urllib.request.urlopen(task["result"]["error_report_url"]) as resp:
        return list(csv.reader(io.StringIO(resp.read().decode("utf-8-sig"))))


def test_mixed_rows_commit_good_ones_and_report_bad_ones_by_row_number(api, station_token,
                                                                       cycles):
    rows = [order_row(1),
            order_row(2, lines=[{"sku": "S", "name": "白菜", "quantity": 0, "unit_price": 1}]),
            order_row(3, order_time=None),
            order_row(4, receive_time="2026/11/28"),
            "not an order",
            order_row(6, customer_name=None),
            order_row(7, lines=[])]
    task = submit_and_run(api, station_token, rows)
    assert task["type"] == 0 and task["task_name"] == "order_import"
    assert task["user_task_id"] == "ui-import-1"
    assert task["status"] == TaskStatus.PARTIAL and task["progress"] == 100
    assert task["counts"] == {"total": 7, "succeeded": 2, "failed": 5, "cancelled": 0}

    got = details(task["task_id"])
    assert [d["item_id"] for d in got] == [1, 2, 3, 4, 5, 6, 7]       # item = row number
    reasons = {d["item_id"]: d["reason"] for d in got if d["outcome"] == 2}
    assert reasons == {
        2: "第 2 行：lines[0].quantity 必须大于 0（must be > 0）",
        4: "第 4 行：receive_time 格式须为 YYYY-MM-DD HH:MM:SS（must be 'YYYY-MM-DD HH:MM:SS'）",
        5: "第 5 行：必须是一个对象（must be an object）",
        6: "第 6 行：customer_name 必须是文本（must be a string）",
        7: "第 7 行：lines 至少 1 项（must have at least 1 item(s)）"}
    assert report_rows(task)[1:] == [[str(d["seq"]), str(d["item_id"]), d["reason"]]
                                     for d in got if d["outcome"] == 2]

    orders = orders_of(task["task_id"])
    assert [o["import_row_no"] for o in orders] == [1, 3]
    first = orders[0]
    assert first["station_id"] == "s001" and first["order_no"] == f"I{task['task_id']}-1"
    assert first["customer_name"] == "客户1" and first["time_config_id"] == TC
    assert first["order_time"] == dt.datetime(2026, 11, 27, 19, 30)
    assert first["cycle_start"] == dt.datetime(2026, 11, 27, 18, 0)
    assert first["total_amount"] == Decimal("29.00")                 # 2.5 * 6.80 + 1 * 12
    assert {d["target_id"] for d in got if d["outcome"] == 1} == {o["id"] for o in orders}
    lines = rows_of("SELECT order_id, line_no, sku, quantity, unit_price, amount"
                    " FROM tbl_order_line ORDER BY order_id, line_no")
    assert [(ln["order_id"], ln["line_no"]) for ln in lines] == [
        (o["id"], n) for o in orders for n in (1, 2)]
    assert lines[0]["amount"] == Decimal("17.00") and lines[1]["amount"] == Decimal("12.00")
    # row 3 had no order_time: the submit time (China time) stands in, cycle from it
    third = orders[1]
    assert third["cycle_start"] <= third["order_time"] < third["cycle_start"] + dt.timedelta(1)
    assert third["cycle_start"].time() == dt.time(18, 0)


def test_all_good_is_done_and_all_bad_is_failed(api, station_token, cycles):
    good = submit_and_run(api, station_token, [order_row(n) for n in range(1, 4)])
    assert good["status"] == TaskStatus.FINISHED and good["reason"] == ""
    assert good["result"]["succeeded"] == 3 and "error_report_url" not in good["result"]
    bad = submit_and_run(api, station_token, [order_row(1, lines="x"), {"lines": []}],
                         task_id="ui-import-2")
    assert bad["status"] == TaskStatus.FAILED and bad["counts"]["failed"] == 2 and bad["reason"]
    assert len(report_rows(bad)) == 3
    assert count("tbl_order") == 3 and count("tbl_order_line") == 6


def test_resubmitting_an_unfinished_task_id_returns_the_same_task(api, station_token, cycles):
    status, first = api.post(SUBMIT, batch([order_row(1)]), token=station_token)
    status, again = api.post(SUBMIT, batch([order_row(1)]), token=station_token)
    assert again["data"]["task_id"] == first["data"]["task_id"]
    assert first["data"]["created"] is True and again["data"]["created"] is False
    assert count("tbl_async_task") == 1 and len(queue_bodies(services())) == 1


class CrashAfter:
    """Wraps the import processor: the worker 'dies' (raises) at batch number `n`."""

    def __init__(self, inner: Any, n: int):
        self.inner, self.n, self.calls = inner, n, 0

    def prepare(self, *args: Any) -> Any:
        return self.inner.prepare(*args)

    def process_batch(self, cur: Any, task_id: int, items: Any) -> Any:
        self.calls += 1
        written = self.inner.process_batch(cur, task_id, items)
        if self.calls == self.n:
            raise RuntimeError("worker died mid-chunk")
        return written


def test_worker_dying_mid_chunk_and_redelivery_insert_no_order_twice(api, station_token,
                                                                     cycles):
    rows = [order_row(n) for n in range(1, 26)]
    rows[9] = order_row(10, lines=[{"sku": "S", "name": "x", "quantity": -1, "unit_price": 1}])
    status, resp = api.post(SUBMIT, batch(rows), token=station_token)
    task_id = resp["data"]["task_id"]
    [message] = queue_bodies(services())

    svc = services_with(outcome_batch_size=10)
    crashing = CrashAfter(svc.engine.processors[order_import.TASK_NAME], 2)
    svc.engine.processors[order_import.TASK_NAME] = crashing
    with pytest.raises(RuntimeError):
        svc.engine.handle_message(message, lambda: 10 ** 9)
    # batch 1 committed; batch 2's orders were rolled back with its outcomes
    assert len(details(task_id)) == 10 and len(orders_of(task_id)) == 9
    # a duplicate delivery while the lease holds is acknowledged without work
    assert svc.engine.handle_message(message, lambda: 10 ** 9) == RunResult.SKIPPED

    services().db.run(lambda cur: cur.execute(
        "UPDATE tbl_task_chunk SET lease_until=UTC_TIMESTAMP(3) - INTERVAL 1 SECOND"
        " WHERE task_id=%s", (task_id,)))
    assert svc.engine.handle_message(message, lambda: 10 ** 9) == RunResult.COMPLETE
    # done: a re-delivery is skipped
    assert svc.engine.handle_message(message, lambda: 10 ** 9) == RunResult.SKIPPED

    orders = orders_of(task_id)
    assert [o["import_row_no"] for o in orders] == [n for n in range(1, 26) if n != 10]
    assert count("tbl_order_line") == 2 * 24
    assert [d["item_id"] for d in details(task_id)] == list(range(1, 26))
    _, got = api.get("/task/get", {"task_id": task_id}, token=station_token)
    assert got["data"]["status"] == TaskStatus.PARTIAL and got["data"]["counts"]["failed"] == 1
    assert chunks(task_id)[0]["attempts"] == 2

    # the import-row key itself: inserting the same rows again inserts nothing
    tc = services().db.run(lambda cur: order_repo.time_config(cur, "s001", TC))
    again = [order_import.to_new_order(task_id, 1, order_import.OrderRow.model_validate(rows[0]),
                                       tc, dt.datetime(2026, 11, 28))]
    ids = services().db.run(lambda cur: order_import_repo.insert_orders(
        cur, "s001", task_id, again, dt.datetime(2026, 11, 28)))
    assert ids == {1: orders[0]["id"]} and len(orders_of(task_id)) == 24
    assert count("tbl_order_line") == 48


NO_SLICE = Slice(0, lambda: False)      # a slice that never ends


def test_a_worker_that_lost_its_lease_writes_no_order(api, station_token, cycles):
    status, resp = api.post(SUBMIT, batch([order_row(1), order_row(2)]), token=station_token)
    task_id = resp["data"]["task_id"]
    svc = services()
    # Claim with one token, then run the batch as a stale worker holding another one.
    claim = svc.db.run(lambda cur: svc.engine._claim(cur, task_id, 0, "a" * 32))
    assert svc.engine.executor.run(task_id, 0, "b" * 32, claim, lambda: 10 ** 9,
                                   lambda: NO_SLICE) == RunResult.LEASE_LOST
    assert count("tbl_order") == 0 and count("tbl_order_line") == 0 and details(task_id) == []
    assert svc.engine.executor.run(task_id, 0, "a" * 32, claim, lambda: 10 ** 9,
                                   lambda: NO_SLICE) == RunResult.COMPLETE
    assert count("tbl_order") == 2 and count("tbl_order_line") == 4


def test_orders_land_in_the_callers_station_only(api, station_token, token_for, cycles):
    task = submit_and_run(api, station_token, [order_row(1), order_row(2)])
    assert {o["station_id"] for o in orders_of(task["task_id"])} == {"s001"}
    assert {ln["station_id"] for ln in rows_of("SELECT station_id FROM tbl_order_line")} == {"s001"}
    status, other = api.get("/task/get", {"task_id": task["task_id"]}, token=token_for("s002"))
    assert status == 404
    # another station's operation cycle is not found, and nothing is written
    status, resp = api.post(SUBMIT, batch([order_row(1)], time_config_id="s002-tc",
                                          task_id="other"), token=station_token)
    assert status == 404 and resp["msg"] == texts.CYCLE_NOT_FOUND(time_config_id="s002-tc")
    assert count("tbl_async_task") == 1


@pytest.mark.parametrize("change,status_code,code,fragment", [
    ({"task_id": None}, 400, 40001, "task_id"),
    ({"task_id": ""}, 400, 40001, "task_id"),
    ({"task_id": 17}, 400, 40001, "task_id"),
    ({"time_config_id": None}, 400, 40001, "time_config_id"),
    ({"file_name": None}, 400, 40001, "file_name"),
    ({"order_data": None}, 400, 40001, "order_data"),
    ({"order_data": "x"}, 400, 40001, "order_data"),
    ({"order_data": {"customer_name": "a"}}, 400, 40001, "order_data"),
    ({"order_data": []}, 400, 40001, "order_data"),
    ({"order_data": [order_row(n) for n in range(4)]}, 413, 41300, "order_data"),
    ({"time_config_id": "no-such-cycle"}, 404, 40400, None),
])
def test_bad_envelope_is_refused_and_writes_nothing(api, station_token, cycles, monkeypatch,
                                                    change, status_code, code, fragment):
    from chalicelib import bootstrap
    monkeypatch.setenv("ORDER_IMPORT_MAX_ROWS", "3")
    bootstrap.reset()
    status, resp = api.post(SUBMIT, batch([order_row(1)], **change), token=station_token)
    assert status == status_code
    if fragment:                                  # the field's one problem
        assert_refused(resp, code, fragment)
    else:
        assert resp["msg"] == texts.CYCLE_NOT_FOUND(time_config_id="no-such-cycle")
    assert count("tbl_async_task") == 0 and count("tbl_task_chunk") == 0
    assert count("tbl_order_import_part") == 0 and queue_bodies(services()) == []


def test_malformed_json_and_missing_token(api, station_token, cycles):
    status, resp = api.post_raw(SUBMIT, b"{not json", token=station_token)
    assert status == 400 and resp["code"] == 40002
    status, resp = api.post(SUBMIT, batch([order_row(1)]))
    assert status == 401
    assert count("tbl_async_task") == 0


def test_batch_end_to_end_through_the_runtime(db_clean, stack_env, monkeypatch, station_token,
                                              cycles):
    rows = [order_row(n) for n in range(1, 1201)]
    for n in (7, 650, 1200):
        rows[n - 1] = order_row(n, receive_time="tomorrow")
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="500", CHUNK_WINDOW="2") as rt:
        status, resp = http("POST", rt.url + SUBMIT, station_token, batch(rows))
        assert status == 200, resp
        task_url = rt.url + resp["data"]["task_url"]

        def final() -> Any:
            _, got = http("GET", task_url, station_token)
            return got["data"] if got["data"]["status"] in FINAL_STATUSES else None
        task = wait_for(final, 60, "the import to finish")
    assert task["status"] == TaskStatus.PARTIAL
    assert task["counts"] == {"total": 1200, "succeeded": 1197, "failed": 3, "cancelled": 0}
    assert [r[1] for r in report_rows(task)[1:]] == ["7", "650", "1200"]
    assert len(orders_of(task["task_id"])) == 1197 and count("tbl_order_line") == 2 * 1197
    assert [c["state"] for c in chunks(task["task_id"])] == [3, 3, 3]


def test_a_worker_near_its_deadline_saves_its_batches_and_requeues_the_rest(api, station_token,
                                                                            cycles):
    status, resp = api.post(SUBMIT, batch([order_row(n) for n in range(1, 31)]),
                            token=station_token)
    task_id = resp["data"]["task_id"]
    [message] = queue_bodies(services())
    svc = services_with(outcome_batch_size=10)
    clock = iter([10 ** 9, 10 ** 9])          # time for two batches, then the deadline
    assert svc.engine.handle_message(message, lambda: next(clock, 0)) == "deadline"
    assert len(details(task_id)) == 20 and len(orders_of(task_id)) == 20
    assert chunks(task_id)[0]["state"] == 1                       # queued again, message out
    assert drain(svc) == ["complete"]
    assert [o["import_row_no"] for o in orders_of(task_id)] == list(range(1, 31))
    _, got = api.get("/task/get", {"task_id": task_id}, token=station_token)
    assert got["data"]["status"] == TaskStatus.FINISHED


@pytest.mark.parametrize("order_time,start", [
    (dt.datetime(2026, 11, 27, 19, 30), dt.datetime(2026, 11, 27, 18, 0)),
    (dt.datetime(2026, 11, 27, 18, 0), dt.datetime(2026, 11, 27, 18, 0)),
    (dt.datetime(2026, 11, 27, 17, 59, 59), dt.datetime(2026, 11, 26, 18, 0)),
    (dt.datetime(2026, 1, 1, 0, 30), dt.datetime(2025, 12, 31, 18, 0)),
])
def test_cycle_start_is_the_latest_boundary_at_or_before_the_order_time(order_time, start):
    config = {"id": "tc", "cycle_start": dt.timedelta(hours=18)}     # pymysql's TIME
    assert order_import.cycle_start(config, order_time) == start


class CancelDuring:
    """Wraps the import processor: the user cancels the task while batch `n` runs."""

    def __init__(self, inner: Any, n: int, cancel: Any):
        self.inner, self.n, self.cancel, self.calls = inner, n, cancel, 0

    def prepare(self, *args: Any) -> Any:
        return self.inner.prepare(*args)

    def process_batch(self, cur: Any, task_id: int, items: Any) -> Any:
        self.calls += 1
        if self.calls == self.n:
            self.cancel()
        return self.inner.process_batch(cur, task_id, items)


def test_cancel_mid_import_then_retry_imports_each_row_once(api, station_token, cycles):
    rows = [order_row(n) for n in range(1, 31)]
    rows[4] = order_row(5, receive_time="soon")
    status, resp = api.post(SUBMIT, batch(rows), token=station_token)
    task_id = resp["data"]["task_id"]
    [message] = queue_bodies(services())
    svc = services_with(outcome_batch_size=10)
    cancel = lambda: api.post("/task/cancel", {"task_ids": [task_id]}, token=station_token)  # noqa: E731
    svc.engine.processors[order_import.TASK_NAME] = CancelDuring(
        svc.engine.processors[order_import.TASK_NAME], 2, cancel)
    svc.engine.handle_message(message, lambda: 10 ** 9)
    _, got = api.get("/task/get", {"task_id": task_id}, token=station_token)
    # batch 2 was committed with the cancel flag; batch 3 never ran
    assert got["data"]["status"] == TaskStatus.PARTIAL and got["data"]["counts"] == {
        "total": 30, "succeeded": 19, "failed": 1, "cancelled": 10}
    assert len(orders_of(task_id)) == 19

    status, retried = api.post("/task/retry", {"task_id": task_id}, token=station_token)
    assert status == 200, retried
    drain(services())
    _, got = api.get("/task/get", {"task_id": task_id}, token=station_token)
    assert got["data"]["status"] == TaskStatus.PARTIAL and got["data"]["counts"] == {
        "total": 30, "succeeded": 29, "failed": 1, "cancelled": 0}
    assert [o["import_row_no"] for o in orders_of(task_id)] == [n for n in range(1, 31) if n != 5]
    assert count("tbl_order_line") == 2 * 29
    assert [r[1] for r in report_rows(got["data"])[1:]] == ["5"]


def test_rows_map_to_their_parts_when_chunks_and_parts_differ(db_clean, cycles):
    svc = services_with(chunk_size=10)
    importer = order_import.OrderImportService(svc.db, svc.tasks, svc.engine, max_rows=100,
                                           part_rows=7)
    req = order_import.OrderBatchSubmit.model_validate(batch([order_row(n) for n in range(1, 26)]))
    task_id = importer.submit("s001", req).task.id
    assert count("tbl_order_import_part") == 4 and len(chunks(task_id)) == 3
    drain(svc)
    orders = orders_of(task_id)
    assert [(o["import_row_no"], o["customer_name"]) for o in orders] == [
        (n, f"客户{n}") for n in range(1, 26)]


def test_an_operation_cycle_deleted_before_the_run_fails_every_row(api, station_token, cycles):
    status, resp = api.post(SUBMIT, batch([order_row(1), order_row(2)]), token=station_token)
    services().db.run(lambda cur: cur.execute("DELETE FROM tbl_time_config WHERE id=%s", (TC,)))
    drain(services())
    _, got = api.get("/task/get", {"task_id": resp["data"]["task_id"]}, token=station_token)
    assert got["data"]["status"] == TaskStatus.FAILED and count("tbl_order") == 0
    assert [d["reason"] for d in details(resp["data"]["task_id"])] == [
        f"第 {n} 行：运营周期 {TC} 已不存在（operation cycle '{TC}' no longer exists）" for n in (1, 2)]
