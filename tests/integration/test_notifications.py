"""Completion notifications against a real loopback receiver (tests/callback_receiver.py),
the test MariaDB and moto's SQS and EventBridge: signed POSTs, retries through the queue,
timeouts, duplicates, the sweeper's repair, refused callback URLs and the task event.

The work queue is drained in this process (engine_helpers.drain) with retry delays of 0,
so every retry is one more message; nothing here waits on a sleep.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import replace
from typing import Any, Iterator

import pytest

from chalicelib import bootstrap
from chalicelib.adapters import task_repo
from chalicelib.domain import callbacks as cb
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import TaskStatus
from chalicelib.service import lifecycle
from chalicelib.service.notifications import MESSAGE_KIND, Notifier
from chalicelib.service.tasks import NewTask
from tests.callback_receiver import HOLD, CallbackReceiver
from tests.conftest import NOTIFY_SECRET
from tests.factories import raw_row
from tests.integration.engine_helpers import drain, queue_bodies, receive

RETRIES = "0,0,0,0,0"            # 6 attempts, each retry visible at once


@pytest.fixture(scope="module")
def receiver() -> Iterator[CallbackReceiver]:
    r = CallbackReceiver(hold_limit_s=5).start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def notify(monkeypatch, db_clean, stack_env, receiver) -> bootstrap.Services:
    receiver.reset()
    for key, value in {"NOTIFY_RETRY_DELAYS_S": RETRIES, "CALLBACK_TIMEOUT_S": "0.5",
                       "NOTIFY_LEASE_S": "5"}.items():
        monkeypatch.setenv(key, value)
    bootstrap.reset()
    yield bootstrap.services()
    bootstrap.reset()


def job_row(task_id: int) -> dict[str, Any]:
    return bootstrap.services().db.run(lambda cur: (cur.execute(
        "SELECT notify_id, notify_state, event_state, notify_seq, notify_attempts,"
        " notify_last_error, notified_at, notify_due_at FROM tbl_async_task WHERE id=%s",
        (task_id,)), cur.fetchone())[1])


def ended_task(svc: bootstrap.Services, callback_url: str | None, *,
               status: TaskStatus = TaskStatus.FINISHED) -> int:
    """A task (as the internal API makes them) that has just ended: its job is open and its
    first message on the queue."""
    created = svc.tasks.create(NewTask(station_id="s001", name="report", type=2,
                                       input={}, repeat=True, callback_url=callback_url))
    task_id = created.task.id
    svc.tasks.start("s001", task_id)
    svc.tasks.finish("s001", task_id, status=status, result={"rows": 3})
    return task_id


# -- delivery, signature, body ---------------------------------------------------------------
def test_a_finished_task_is_posted_signed_with_the_item_task_get_shows(notify, receiver, api,
                                                                        station_token):
    task_id = ended_task(notify, f"{receiver.url}/hooks/tasks?src=test")
    assert drain(notify) == [RunResult.COMPLETE]
    (got,) = receiver.wait_for(1)
    assert got.path == "/hooks/tasks?src=test"
    row = job_row(task_id)
    assert got.headers["X-Delivery-Id"] == row["notify_id"] and len(row["notify_id"]) == 32
    assert got.headers["X-Event-Type"] == "task.finished"
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert cb.verify(NOTIFY_SECRET, got.headers["X-Signature"], got.body, now=int(time.time()))
    t = int(got.headers["X-Signature"].split(",")[0][2:])
    assert not cb.verify("another-secret-of-32-bytes-000000000", got.headers["X-Signature"],
                         got.body, now=t)
    status, resp = api.get("/task/get", {"task_id": task_id}, token=station_token)
    assert status == 200
    shown = resp["data"]
    assert (shown["notify_attempts"], shown["notify_last_error"]) == (1, None)
    assert shown["notified_at"] and shown["callback_url"].startswith(receiver.url)
    sent = json.loads(got.body)
    # the body is the item as /task/get showed it when it was sent (before it was notified)
    assert sent == {**shown, "notified_at": None, "notify_attempts": 0}
    assert (row["notify_state"], row["notify_due_at"]) == (cb.DONE, None)


def test_a_task_without_callback_and_without_bus_opens_no_job(notify):
    task_id = ended_task(notify, None)
    assert queue_bodies(notify) == [] and job_row(task_id)["notify_id"] is None


# -- failures and retries ---------------------------------------------------------------------
def test_a_failing_receiver_is_retried_and_attempts_and_last_error_are_recorded(notify,
                                                                                receiver):
    receiver.script(503, 500, 200)
    task_id = ended_task(notify, receiver.url + "/hook", status=TaskStatus.PARTIAL)
    assert drain(notify) == [RunResult.UNAVAILABLE, RunResult.UNAVAILABLE, RunResult.COMPLETE]
    got = receiver.wait_for(3)
    assert len({r.headers["X-Delivery-Id"] for r in got}) == 1     # one delivery, 3 attempts
    assert [r.headers["X-Delivery-Attempt"] for r in got] == ["1", "2", "3"]
    row = job_row(task_id)
    assert row["notify_attempts"] == 3 and row["notified_at"] is not None
    assert row["notify_last_error"] == "HTTP 500: receiver says no"     # kept after success
    assert row["notify_state"] == cb.DONE


def test_a_receiver_that_never_takes_it_is_given_up_after_the_last_attempt(notify, receiver):
    receiver.script(*[502] * 10)
    task_id = ended_task(notify, receiver.url + "/hook", status=TaskStatus.FAILED)
    assert drain(notify) == [RunResult.UNAVAILABLE] * 5 + [RunResult.COMPLETE]
    assert len(receiver.wait_for(6)) == 6
    row = job_row(task_id)
    assert (row["notify_state"], row["notify_attempts"], row["notified_at"]) == (cb.GAVE_UP, 6,
                                                                                 None)
    assert row["notify_due_at"] is None and row["notify_last_error"].startswith("HTTP 502")
    assert raw_row(task_id).status == TaskStatus.FAILED      # the task is untouched


def test_a_slow_receiver_times_out_and_the_next_attempt_delivers(notify, receiver):
    receiver.script(HOLD, 200)          # the first answer waits far past CALLBACK_TIMEOUT_S
    task_id = ended_task(notify, receiver.url + "/slow")
    (first,) = receive(notify, 1)
    started = time.monotonic()
    assert notify.messages.handle(first["Body"], lambda: 10 ** 9) == RunResult.UNAVAILABLE
    held_for = time.monotonic() - started
    notify.queue.delete(first["ReceiptHandle"])
    receiver.release()
    assert held_for < 2.0, f"a slow receiver held the worker {held_for:.1f} s"
    assert drain(notify) == [RunResult.COMPLETE]
    row = job_row(task_id)
    assert row["notify_attempts"] == 2 and row["notified_at"] is not None
    assert row["notify_last_error"] == "timeout after 0.5 s"


def test_a_refused_connection_is_an_attempt_with_its_error(notify):
    import socket
    with socket.socket() as s:           # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    task_id = ended_task(notify, f"http://127.0.0.1:{port}/x")
    (first,) = receive(notify, 1)
    assert notify.messages.handle(first["Body"], lambda: 10 ** 9) == RunResult.UNAVAILABLE
    assert job_row(task_id)["notify_last_error"].startswith("connection:")


# -- at least once, never twice recorded ------------------------------------------------------
def test_a_duplicate_delivery_posts_and_records_once(notify, receiver):
    task_id = ended_task(notify, receiver.url + "/dup")
    (msg,) = receive(notify, 1)
    assert notify.messages.handle(msg["Body"], lambda: 10 ** 9) == RunResult.COMPLETE
    assert notify.messages.handle(msg["Body"], lambda: 10 ** 9) == RunResult.SKIPPED
    assert len(receiver.wait_for(1)) == 1 and job_row(task_id)["notify_attempts"] == 1


def test_a_duplicate_delivered_while_the_first_runs_is_skipped(notify, receiver):
    receiver.script(HOLD)
    task_id = ended_task(notify, receiver.url + "/dup")
    (msg,) = receive(notify, 1)
    results: list[RunResult] = []
    first = threading.Thread(target=lambda: results.append(
        notify.messages.handle(msg["Body"], lambda: 10 ** 9)))
    first.start()
    receiver.wait_for(1)                 # the first run is inside its POST
    second = bootstrap.Services(notify.settings)        # another worker instance
    assert second.messages.handle(msg["Body"], lambda: 10 ** 9) == RunResult.SKIPPED
    first.join(10)
    receiver.release()
    assert results == [RunResult.UNAVAILABLE]           # the held POST timed out
    assert len(receiver.requests) == 1 and job_row(task_id)["notify_attempts"] == 1


def test_a_message_of_a_finish_that_never_committed_is_dropped(notify, receiver):
    task_id = ended_task(notify, receiver.url + "/x")
    queue_bodies(notify)
    stale = json.dumps({"kind": MESSAGE_KIND, "task_id": task_id, "notify_id": uuid.uuid4().hex,
                        "seq": 1})
    assert notify.messages.handle(stale, lambda: 10 ** 9) == RunResult.SKIPPED
    assert receiver.requests == [] and job_row(task_id)["notify_seq"] == 0


def test_a_lost_message_is_sent_again_by_the_sweeper(notify, receiver):
    task_id = ended_task(notify, receiver.url + "/late")
    assert len(queue_bodies(notify)) == 1           # the first message is lost
    assert notify.notifier.sweep() == {"resent": 0}     # not overdue yet
    notify.db.run(lambda cur: cur.execute(          # NOTIFY_SWEEP_AFTER_S (120 s) later
        "UPDATE tbl_async_task SET notify_due_at = notify_due_at - INTERVAL 121 SECOND"
        " WHERE id=%s", (task_id,)))
    report = notify.sweeper.sweep()
    assert report.other["notifications"] == {"resent": 1}
    assert notify.notifier.sweep() == {"resent": 0}     # touched: not re-sent at once
    assert drain(notify) == [RunResult.COMPLETE]
    assert len(receiver.wait_for(1)) == 1 and job_row(task_id)["notify_attempts"] == 1


def test_a_retried_task_notifies_its_new_end_with_a_new_delivery_id(notify, receiver):
    task_id = ended_task(notify, receiver.url + "/again", status=TaskStatus.FAILED)
    drain(notify)
    first_id = receiver.wait_for(1)[0].headers["X-Delivery-Id"]
    notify.db.run(lambda cur: lifecycle.resubmit(
        cur, task_repo.get_any_station(cur, task_id, for_update=True), reopened_failed=0))
    notify.tasks.start("s001", task_id)
    notify.tasks.finish("s001", task_id, status=TaskStatus.FINISHED)
    drain(notify)
    second = receiver.wait_for(2)[1]
    assert second.headers["X-Delivery-Id"] != first_id
    assert json.loads(second.body)["status"] == TaskStatus.FINISHED


# -- the address checked when sending (DNS rebinding) ------------------------------------------
def test_a_name_that_resolves_to_a_private_address_at_send_time_is_not_called(notify):
    posts: list[str] = []
    svc = bootstrap.Services(replace(notify.settings, callback_allow_local=False,
                                     callback_hosts="hooks.example.com"))
    svc.__dict__["notifier"] = Notifier(
        svc.db, svc.queue, svc.settings, item=lambda task: {"task_id": task.id}, events=None,
        resolve=lambda host, port: ["93.184.216.34", "10.0.0.7"],     # rebound to the VPC
        post=lambda *a, **k: posts.append(a[1]))
    task_id = ended_task(svc, "https://hooks.example.com/t")
    (msg,) = receive(svc, 1)
    assert svc.messages.handle(msg["Body"], lambda: 10 ** 9) == RunResult.UNAVAILABLE
    svc.queue.delete(msg["ReceiptHandle"])
    assert posts == []
    assert job_row(task_id)["notify_last_error"] == (
        "refused: hooks.example.com resolves to 10.0.0.7 (a private address)")


# -- the whole path: API, engine worker process, notify message, receiver --------------------
def test_a_copy_over_http_is_called_back_by_the_worker_process(db_clean, stack_env, receiver,
                                                               station_token):
    from tests.conftest import served_app
    from tests.integration.conftest import http, wait_for
    from tests.integration.engine_helpers import seed_shops
    receiver.reset()
    receiver.script(503)                  # the first attempt fails, the retry delivers
    shops = seed_shops(3)
    with served_app({**stack_env, "NOTIFY_RETRY_DELAYS_S": RETRIES}, workers=1) as url:
        status, resp = http("POST", url + "/station/product/copy_task", station_token, {
            "source_shop_id": shops["source"], "target_shop_id": shops["target"],
            "product_ids": shops["product_ids"], "callback_url": receiver.url + "/e2e"})
        assert status == 200, resp
        task_id = resp["data"]["task_id"]
        first, second = receiver.wait_for(2, 60)

        def notified() -> dict[str, Any] | None:
            item = http("GET", f"{url}/task/get?task_id={task_id}", station_token)[1]["data"]
            return item if item["notified_at"] else None
        item = wait_for(notified, 30, "the task to show notified_at")
    assert first.headers["X-Delivery-Id"] == second.headers["X-Delivery-Id"]
    assert cb.verify(NOTIFY_SECRET, second.headers["X-Signature"], second.body,
                     now=int(time.time()))
    body = json.loads(second.body)
    assert body["task_id"] == task_id and body["status"] == TaskStatus.FINISHED
    assert body["counts"]["succeeded"] == 3
    assert (item["notify_attempts"], item["notify_last_error"]) == (2, "HTTP 503: receiver says no")
