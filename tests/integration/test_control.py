"""Cancel and retry, through the HTTP API, against the real engine, MariaDB, moto and the fake."""
from __future__ import annotations

import threading
from typing import Any

from chalicelib.domain.chunk import Outcome
from chalicelib.domain.task import TaskStatus
from chalicelib.service.processors import WorkItem
from tests.factories import make_task, raw_row
from tests.integration.engine_helpers import create_copy, details, drain, seed_shops, services_with




class CancelAfter:
    """Wraps the copy processor: once `n` items have run, the station cancels the task
    through the API (as a user clicking "cancel" while the chunk runs)."""

    def __init__(self, inner: Any, n: int, cancel: Any):
        self.inner, self.n, self.cancel = inner, n, cancel
        self.calls = 0
        self._lock = threading.Lock()

    def prepare(self, *args: Any) -> list[WorkItem]:
        return self.inner.prepare(*args)

    def process(self, task_id: int, item: WorkItem) -> Any:
        with self._lock:
            self.calls += 1
            fire = self.calls == self.n
        if fire:
            self.cancel(task_id)
        return self.inner.process(task_id, item)


def assert_each_item_once(task_id: int, total: int) -> list[dict[str, Any]]:
    rows = details(task_id)
    assert [d["seq"] for d in rows] == list(range(total))
    return rows


def test_cancel_mid_chunk_stops_at_the_next_batch(api, station_token, product_center):
    product_center.configure(latency_ms=30)     # items take time, as they do downstream
    shops = seed_shops(60)
    svc = services_with(chunk_size=20, chunk_window=1, chunk_threads=2, outcome_batch_size=2,
                        chain_chunks=False)
    task = create_copy(svc, shops, shops["product_ids"])

    def cancel(task_id: int) -> None:
        status, body = api.post("/task/cancel", {"task_ids": [task_id]}, token=station_token)
        assert status == 200 and body["data"] == {"cancelled": [task_id], "already_final": []}
    name = task.name
    svc.engine.processors[name] = CancelAfter(svc.engine.processors[name], 5, cancel)
    drain(svc)

    row = raw_row(task.id)
    assert row.status == TaskStatus.PARTIAL and row.cancelled == 1
    ok, cancelled = row.succeeded_items, row.cancelled_items
    # stopped at the next batch: the 5th item, what ran while the cancel request was made
    # and what was in flight; the rest of the first chunk and every later chunk never ran
    assert 5 <= ok < 20 and row.failed_items == 0 and ok + cancelled == 60
    assert row.reason == f"已取消：共 60 项，成功 {ok} 项，失败 0 项，未执行 {cancelled} 项"
    assert row.result == {"total": 60, "succeeded": ok, "failed": 0, "cancelled": True,
                             "not_run": cancelled}
    rows = assert_each_item_once(task.id, 60)
    assert sum(d["outcome"] == Outcome.CANCELLED for d in rows) == cancelled
    assert product_center.stats()["creates"] == ok      # nothing ran after the cancel was seen
    status, body = api.get("/task/get", {"task_id": task.id}, token=station_token)
    assert body["data"]["cancelled"] is True and body["data"]["progress"] == 100
    assert body["data"]["counts"] == {"total": 60, "succeeded": ok, "failed": 0,
                                      "cancelled": cancelled}


def test_cancel_before_start_runs_nothing_and_ends_5(api, station_token, product_center):
    shops = seed_shops(12)
    svc = services_with(chunk_size=4)
    task = create_copy(svc, shops, shops["product_ids"], user_task_id="job-1")
    status, body = api.post("/task/cancel", {"user_task_ids": ["job-1"]}, token=station_token)
    assert status == 200 and body["data"]["cancelled"] == [task.id]
    drain(svc)
    row = raw_row(task.id)
    assert row.status == TaskStatus.FAILED and row.reason.startswith("已取消：共 12 项，成功 0 项")
    assert all(d["outcome"] == Outcome.CANCELLED for d in assert_each_item_once(task.id, 12))
    assert product_center.stats()["creates"] == 0


def test_cancel_task_without_engine_plan_ends_at_once(api, station_token):
    task = make_task(status=TaskStatus.RUNNING)
    status, body = api.post("/task/cancel", {"task_ids": [task.id]}, token=station_token)
    assert status == 200 and body["data"]["cancelled"] == [task.id]
    row = raw_row(task.id)
    assert (row.status, row.reason, row.cancelled) == (TaskStatus.FAILED, "已取消", 1)


def test_cancel_reports_already_final_and_refuses_unknown_or_foreign(api, station_token):
    done = make_task(status=TaskStatus.FINISHED)
    foreign = make_task(station_id="s002")
    status, body = api.post("/task/cancel", {"task_ids": [done.id]}, token=station_token)
    assert status == 200 and body["data"] == {"cancelled": [], "already_final": [done.id]}
    assert raw_row(done.id).cancelled == 0
    for ids in ([foreign.id], [done.id, 10 ** 12]):
        status, body = api.post("/task/cancel", {"task_ids": ids}, token=station_token)
        assert status == 404 and body["code"] == 40400
    assert raw_row(foreign.id).cancelled == 0
    status, body = api.post("/task/cancel", {"task_ids": [1], "user_task_ids": ["x"]},
                            token=station_token)
    assert status == 400 and body["code"] == 40001


def test_retry_reruns_only_failed_items_and_counts_stay_true(api, station_token, product_center):
    product_center.configure(reject_every=5)
    shops = seed_shops(20)
    svc = services_with(chunk_size=8)
    task = create_copy(svc, shops, shops["product_ids"])
    drain(svc)
    first = raw_row(task.id)
    rejected = [i for i in shops["product_ids"] if i % 5 == 0]
    assert first.status == TaskStatus.PARTIAL and first.failed_items == len(rejected)
    assert first.result["error_report_key"].endswith("errors-run1.csv")
    creates_before = product_center.stats()["creates"]

    # the downstream still refuses: a second run, a second report
    status, body = api.post("/task/retry", {"task_id": task.id}, token=station_token)
    assert status == 200 and body["data"]["status"] == TaskStatus.SUBMITTED
    assert raw_row(task.id).failed_items == 0
    drain(svc)
    second = raw_row(task.id)
    assert second.run_count == 2 and second.status == TaskStatus.PARTIAL
    assert (second.succeeded_items, second.failed_items) == (20 - len(rejected), len(rejected))
    assert second.result["error_report_key"].endswith("errors-run2.csv")
    assert product_center.stats()["creates"] == creates_before     # succeeded items not re-run

    product_center.configure(reject_every=0)
    status, body = api.post("/task/retry", {"task_id": task.id}, token=station_token)
    assert status == 200
    drain(svc)
    third = raw_row(task.id)
    assert third.run_count == 3 and third.status == TaskStatus.FINISHED
    assert (third.succeeded_items, third.failed_items, third.progress) == (20, 0, 100)
    assert third.result == {"total": 20, "succeeded": 20, "failed": 0}
    assert all(d["outcome"] == Outcome.SUCCEEDED for d in assert_each_item_once(task.id, 20))
    stats = product_center.stats()
    assert stats["creates"] == 20 and stats["max_creates_per_key"] == 1


def test_retry_resumes_a_cancelled_task(api, station_token, product_center):
    shops = seed_shops(12)
    svc = services_with(chunk_size=4)
    task = create_copy(svc, shops, shops["product_ids"])
    api.post("/task/cancel", {"task_ids": [task.id]}, token=station_token)
    drain(svc)
    assert raw_row(task.id).status == TaskStatus.FAILED
    status, body = api.post("/task/retry", {"task_id": task.id}, token=station_token)
    assert status == 200
    drain(svc)
    row = raw_row(task.id)
    assert (row.status, row.cancelled, row.cancelled_items) == (TaskStatus.FINISHED, 0, 0)
    assert row.succeeded_items == 12 and product_center.stats()["creates"] == 12


def test_retry_refuses_what_it_cannot_rerun(api, station_token):
    for task, code in ((make_task(status=TaskStatus.FINISHED), 40900),
                       (make_task(status=TaskStatus.RUNNING), 40900),
                       (make_task(status=TaskStatus.FAILED), 40900),   # no chunk plan
                       (make_task(station_id="s002", status=TaskStatus.FAILED), 40400)):
        before = raw_row(task.id)
        status, body = api.post("/task/retry", {"task_id": task.id}, token=station_token)
        assert body["code"] == code and status == code // 100
        assert raw_row(task.id) == before
    status, body = api.post("/task/retry", {"task_id": "7"}, token=station_token)
    assert status == 400 and body["code"] == 40001
