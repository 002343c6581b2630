"""Dead letters: messages no worker can handle reach the DLQ after maxReceiveCount, their
tasks end with a reason, other tasks are not held up, and a redrive moves them back.

Runs the real app under the local runtime against its own queue pair provisioned from the
production template, with a 2-second visibility timeout so five failed receives take
seconds rather than the production 5 x 30 minutes.
"""
from __future__ import annotations

import json
import time

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus
from chalicelib.service.dead_letters import DEAD_LETTER_REASON
from chalicelib.service.engine import chunk_message
from chalicelib.service.messages import MalformedMessage
from chalicelib.service.tasks import NewTask
from tests.factories import raw_row
from tests.integration.engine_helpers import (app_runtime, create_copy, details, drain,
                                              queue_bodies, seed_shops, services_with)
from tests.integration.conftest import http, wait_for

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def short_queues(aws):
    from infra.local.aws import env_for, provision
    outputs = provision(aws["AWS_ENDPOINT_URL"], "dlqtest",
                        parameters={"QueueVisibilityTimeoutSeconds": 2})
    return env_for(outputs)


def final_row(task_id: int):
    row = raw_row(task_id)
    return row if row.is_final else None


def test_undeliverable_messages_end_in_the_dlq_and_their_tasks_end(
        db_clean, stack_env, monkeypatch, short_queues, station_token, product_center):
    queues = {k: short_queues[k] for k in ("WORK_QUEUE_NAME", "DEAD_LETTER_QUEUE_NAME",
                                           "EXPORT_BUCKET")}
    shops = seed_shops(300)
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="50", CHUNK_WINDOW="2",
                     **queues) as rt:
        svc = services()
        svc.queue.send_raw("this is not JSON")
        svc.queue.send_raw('{"kind": "chunk"}')
        # A task of a kind no worker knows: every delivery of its chunk fails.
        poison = svc.engine.create_task(svc.tasks, NewTask(
            station_id="s001", name="no_such_kind", type=2, input={}, total_items=3),
            [11, 12, 13]).task
        started = time.monotonic()
        status, resp = http("POST", rt.url + "/station/product/copy_task", station_token,
                            {"source_shop_id": shops["source"], "target_shop_id": shops["target"],
                             "product_ids": shops["product_ids"]})
        assert status == 200, resp
        normal = wait_for(lambda: final_row(resp["data"]["task_id"]), 60, "the normal task")
        normal_s = time.monotonic() - started
        # The sweeper (every second here) finds the poison chunk's message in the DLQ.
        ended = wait_for(lambda: final_row(poison.id), 90, "the poison task to end")
        dlq_depth = wait_for(lambda: svc.dead_letters.depth() == 3 and 3, 30, "3 dead letters")

    print(f"\nFAULT dead letters: normal task {normal_s:.1f}s, dlq={dlq_depth}")
    assert normal.status == TaskStatus.FINISHED and normal.succeeded_items == 300
    assert normal_s < 30, "a task was held up by undeliverable messages"
    assert ended.status == TaskStatus.FAILED and ended.failed_items == 3
    rows = details(poison.id)
    assert [d["item_id"] for d in rows] == [11, 12, 13]
    assert all(d["reason"] == DEAD_LETTER_REASON for d in rows)
    assert ended.reason == "共 3 项，失败 3 项，详见错误报告"
    assert ended.result["error_report_key"]

    # Settling again changes nothing; the letters stay for the operator.
    report = svc.dead_letters.settle()
    assert (report.seen, report.unroutable, report.chunks_failed) == (3, 2, 0)
    assert svc.dead_letters.depth() == 3

    # After a "fix", the operator redrives: the DLQ empties into the work queue.
    moved = svc.dead_letters.redrive()
    assert (moved.moved, moved.left, moved.errors) == (3, 0, [])
    bodies, groups = [], []
    for m in svc.queue.receive(10, visibility_s=30):
        bodies.append(m.body)
        groups.append(m.group_id)
        try:
            outcome = svc.messages.handle(m.body, lambda: 10 ** 9)
        except MalformedMessage:
            outcome = "malformed"
        bodies[-1] = (m.body, outcome)
    assert sorted(o for _, o in bodies) == ["malformed", "malformed", "skipped"]
    assert sorted(groups) == ["", "", "s001"]     # the chunk's message is still its station's
    assert raw_row(poison.id).status == TaskStatus.FAILED     # settled once, not again


# -- a dead letter ends its chunk once; a retry is not undone by the next sweep -----------
def _empty(queue) -> None:
    while batch := queue.receive(10, visibility_s=0):
        for m in batch:
            queue.delete(m.receipt)


def test_sweep_after_retry_does_not_fail_the_reopened_chunk(db_clean, product_center):
    svc = services_with(chunk_size=4, chunk_window=1)
    dlq = svc.dead_letters.dlq
    _empty(dlq)
    shops = seed_shops(4)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)                                   # its message "dies" ...
    dlq.send_raw(json.dumps(chunk_message(task.id, 0)))  # ... and lands in the DLQ
    try:
        assert svc.sweeper.sweep().dead_letters == 1
        assert raw_row(task.id).status == TaskStatus.FAILED
        retried = svc.control.retry("s001", task.id)   # the station user retries
        assert retried.status == TaskStatus.SUBMITTED
        svc.sweeper.sweep()                                # the letter is still in the DLQ
        drain(svc)
        row = raw_row(task.id)
        assert [d["reason"] for d in details(task.id) if d["reason"]] == []
        assert row.status == TaskStatus.FINISHED and row.succeeded_items == 4
        assert dlq.waiting() == 1                          # still there for the operator
    finally:
        _empty(dlq)
