"""Time slices: a chunk yields its worker after SLICE_SECONDS only when other work waits,
counts no attempt, and every item still ends in exactly one state."""
from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.bootstrap import services
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import TaskStatus
from tests.factories import raw_row
from tests.integration.engine_helpers import (app_runtime, chunks, create_copy, details, drain,
                                              queue_bodies, receive, seed_shops, services_with)
from tests.integration.conftest import wait_for


def quiet_queue(svc: Any) -> None:
    """No message left in the queue: delayed re-queues and in-flight leftovers of earlier
    tests are purged (a slice reads the queue's depth, so they would count as waiting work)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
             "ApproximateNumberOfMessagesNotVisible"]
    svc.queue.sqs.purge_queue(QueueUrl=svc.queue.url)
    attrs = svc.queue.sqs.get_queue_attributes(QueueUrl=svc.queue.url,
                                               AttributeNames=names)["Attributes"]
    assert all(int(attrs[n]) == 0 for n in names), attrs


def take(svc: Any) -> tuple[dict[str, Any], str]:
    m = receive(svc, 1)[0]
    svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=m["ReceiptHandle"])
    return json.loads(m["Body"]), m["Body"]


def test_a_chunk_yields_to_waiting_work_after_its_slice(db_clean, product_center):
    product_center.configure(latency_ms=20)
    shops = seed_shops(201)
    svc = services_with(chunk_size=100, chunk_window=1, chunk_threads=2, slice_seconds=0.5)
    quiet_queue(svc)
    big = create_copy(svc, shops, shops["product_ids"][:200])
    _, body = take(svc)
    small = create_copy(svc, shops, shops["product_ids"][200:])      # its message waits
    started = time.monotonic()
    assert svc.messages.handle(body, lambda: 10 ** 9) == RunResult.SLICED
    assert time.monotonic() - started < 0.5 + 1.0               # not the chunk's ~1 s+
    first = chunks(big.id)[0]
    assert (first["state"], first["attempts"], first["lease_token"]) == (1, 0, None)
    assert 0 < len(details(big.id)) < 100                    # recorded what it did
    nxt, body = take(svc)                                        # the waiting work comes first
    assert nxt["task_id"] == small.id
    svc.messages.handle(body, lambda: 10 ** 9)
    assert raw_row(small.id).status == TaskStatus.FINISHED
    drain(svc)
    assert raw_row(big.id).status == TaskStatus.FINISHED
    assert [d["seq"] for d in details(big.id)] == list(range(200))
    assert all(c["attempts"] == 1 for c in chunks(big.id))   # slices counted no attempt
    stats = product_center.stats()
    assert stats["creates"] == 201 and stats["max_creates_per_key"] == 1


def test_nothing_waiting_means_no_slice(db_clean, product_center):
    product_center.configure(latency_ms=20)
    shops = seed_shops(200)
    svc = services_with(chunk_size=100, chunk_window=1, chunk_threads=2, slice_seconds=0.5)
    quiet_queue(svc)
    big = create_copy(svc, shops, shops["product_ids"])
    _, body = take(svc)
    started = time.monotonic()
    assert svc.messages.handle(body, lambda: 10 ** 9) == RunResult.COMPLETE   # both chunks, chained
    assert time.monotonic() - started > 1.0                     # ran well past its slice
    assert raw_row(big.id).status == TaskStatus.FINISHED
    assert [c["attempts"] for c in chunks(big.id)] == [1, 1]


def test_a_new_tasks_first_item_starts_within_about_one_slice(db_clean, stack_env,
                                                              monkeypatch, product_center):
    """Both workers busy with chunks of 1,000 items that would take ~50 s each."""
    product_center.configure(latency_ms=100)
    shops = seed_shops(2001)
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="1000", CHUNK_WINDOW="2",
                     CHUNK_THREADS="2", SLICE_SECONDS="1", OUTCOME_FLUSH_MS="100"):
        svc = services()
        big = create_copy(svc, shops, shops["product_ids"][:2000])
        wait_for(lambda: sum(c["state"] == 2 for c in chunks(big.id)) == 2, 30,
                 "both workers on the big task")
        small = create_copy(svc, shops, shops["product_ids"][2000:])
        wait_for(lambda: raw_row(small.id).is_final, 30,
                 "the small task to end")
        row = raw_row(small.id)
        waited = (row.end_time - row.creat_time).total_seconds()
        assert row.status == TaskStatus.FINISHED and waited <= 1 + 2.0, waited
        svc.control.cancel("s001", task_ids=[big.id])
        end = wait_for(lambda: (r := raw_row(big.id)) and r.is_final
                       and r, 60, "the big task to end")
    seqs = [d["seq"] for d in details(big.id)]
    assert seqs == list(range(2000)), "an item is missing or recorded twice"
    assert end.succeeded_items + end.cancelled_items == 2000
    assert all(c["attempts"] <= 1 for c in chunks(big.id))
    print(f"\nSLICE first item of a new task after {waited:.2f} s (slice 1 s, chunks ~50 s)")
