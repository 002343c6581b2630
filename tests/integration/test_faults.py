"""Fault tests: try to lose or double an item, and count what happened.

Against the real parts: the session's MariaDB, moto's SQS/S3 and the fake product center.
Each test asserts the promise: every detail ends in exactly one terminal state, the
product center saw at most one create per idempotency key, and the task ends.
"""
from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import uuid
from typing import Any

import pytest

from chalicelib.adapters import chunk_repo
from chalicelib.domain.chunk import ChunkState
from chalicelib.domain.task import TaskStatus
from chalicelib.errors import DatabaseUnavailable
from tests.factories import raw_row
from tests.integration.engine_helpers import (acknowledge, app_runtime, chunks, create_copy,
                                              details, drain, queue_bodies, receive, receive_current,
                                              seed_shops, services_with, sweeper)
from tests.integration.conftest import http, wait_for

pytestmark = pytest.mark.faults




def crash_claim(svc, task_id: int, seq: int) -> bool:
    """What a worker killed right after its claim leaves behind: a lease nobody renews."""
    return svc.db.run(lambda cur: chunk_repo.claim(cur, task_id, seq, uuid.uuid4().hex,
                                                   svc.settings.lease_seconds)) is not None


def expire_leases(svc, task_id: int) -> None:
    def tx(cur: Any) -> None:
        cur.execute("UPDATE tbl_task_chunk SET lease_until=UTC_TIMESTAMP(3) - INTERVAL 1 SECOND"
                    " WHERE task_id=%s AND state=%s", (task_id, int(ChunkState.RUNNING)))
    svc.db.run(tx)


def assert_each_detail_once(task_id: int, total: int) -> None:
    seqs = [d["seq"] for d in details(task_id)]
    assert seqs == list(range(total)), "a detail is missing or recorded twice"


def test_poison_chunk_fails_with_a_reason_after_its_attempts(db_clean, product_center):
    product_center.reset()
    shops = seed_shops(8)
    svc = services_with(chunk_size=4, chunk_window=1, max_chunk_attempts=2)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)                                   # the first message is "lost"
    repairs = sweeper(svc)
    for attempt in (1, 2):                              # the worker dies on every attempt
        assert crash_claim(svc, task.id, 0)
        expire_leases(svc, task.id)
        report = repairs.sweep()
        if attempt == 1:
            assert report.expired_leases == 1 and report.failed_chunks == 0
            assert [b["chunk"] for b in queue_bodies(svc)] == [0]
    assert report.failed_chunks == 1 and report.expired_leases == 0
    drain(svc)                                          # the next chunk runs normally
    row = raw_row(task.id)
    assert row.status == TaskStatus.PARTIAL
    assert (row.succeeded_items, row.failed_items) == (4, 4)
    assert "共 8 项，失败 4 项" in row.reason
    rows = details(task.id)
    assert_each_detail_once(task.id, 8)
    assert all("gave up after 2 attempts" in d["reason"] for d in rows[:4])
    assert [c["state"] for c in chunks(task.id)] == [4, 3]


def test_two_sweepers_at_once_do_not_double_process(db_clean, product_center):
    product_center.reset()
    shops = seed_shops(60)
    svc = services_with(chunk_size=4, chunk_window=15, max_chunk_attempts=3)
    task = create_copy(svc, shops, shops["product_ids"])    # 15 chunks, all queued
    queue_bodies(svc)
    for seq in range(15):
        assert crash_claim(svc, task.id, seq)
    for seq in range(5):                                # 5 chunks on their last attempt
        assert crash_claim(svc, task.id, seq) is False   # leased: a live claim fails
    def at_last_attempt(cur: Any) -> None:
        cur.execute("UPDATE tbl_task_chunk SET attempts=3 WHERE task_id=%s AND seq < 5",
                    (task.id,))
    svc.db.run(at_last_attempt)
    expire_leases(svc, task.id)

    reports, barrier = [], threading.Barrier(2)
    def run_sweeper() -> None:
        own = services_with(chunk_size=4, chunk_window=15, max_chunk_attempts=3)
        barrier.wait()
        reports.append(sweeper(own).sweep())
    threads = [threading.Thread(target=run_sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == 2 and not any(r.errors for r in reports)
    assert sum(r.failed_chunks for r in reports) == 5
    assert sum(r.expired_leases for r in reports) == 10
    sent = sorted(b["chunk"] for b in queue_bodies(svc))
    assert sent == list(range(5, 15)), "a chunk was enqueued twice (or not at all)"
    for seq in sent:                                    # run them; replay each message too
        svc.messages.handle(f'{{"kind":"chunk","task_id":{task.id},"chunk":{seq}}}',
                            lambda: 10 ** 9)
    row = raw_row(task.id)
    assert row.status == TaskStatus.PARTIAL
    assert (row.succeeded_items, row.failed_items) == (40, 20)
    assert_each_detail_once(task.id, 60)
    stats = product_center.stats()
    assert stats["creates"] == 40 and stats["max_creates_per_key"] == 1
    print(f"\nFAULT two-sweepers: duplicates seen=0 items lost=0 "
          f"failed_chunks={sum(r.failed_chunks for r in reports)} "
          f"split={[r.expired_leases for r in reports]}")


def test_every_message_delivered_twice_processes_each_detail_once(db_clean, product_center):
    product_center.reset()
    shops = seed_shops(50)
    svc = services_with(chunk_size=8, chunk_window=2, chunk_threads=4)
    task = create_copy(svc, shops, shops["product_ids"])
    outcomes = []
    for _ in range(200):
        messages = receive(svc, 1)
        if not messages:
            break
        m = messages[0]
        if json.loads(m["Body"]).get("task_id") != task.id:    # a delayed leftover of an
            svc.queue.sqs.delete_message(QueueUrl=svc.queue.url,   # earlier test
                                         ReceiptHandle=m["ReceiptHandle"])
            continue
        for _ in range(2):                              # SQS at-least-once, at its worst
            outcomes.append(svc.messages.handle(m["Body"], lambda: 10 ** 9))
        svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=m["ReceiptHandle"])
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED
    assert (row.succeeded_items, row.failed_items) == (50, 0)
    assert outcomes.count("skipped") == len(outcomes) // 2
    assert_each_detail_once(task.id, 50)
    stats = product_center.stats()
    assert stats["creates"] == 50 and stats["max_creates_per_key"] == 1
    print(f"\nFAULT duplicate delivery: deliveries={len(outcomes)} duplicates seen=0 items lost=0")


@pytest.fixture
def kill_runtime(db_clean, stack_env, monkeypatch):
    with app_runtime(monkeypatch, stack_env, 3, CHUNK_SIZE="500", CHUNK_WINDOW="3",
                     CHUNK_THREADS="8", LEASE_SECONDS="2", OUTCOME_FLUSH_MS="100",
                     MAX_CHUNK_ATTEMPTS="50", PRODUCT_CENTER_RATE="600",
                     SWEEP_STALE_QUEUED_S="3") as rt:
        yield rt


def start_copy_over_http(rt: Any, token: str, product_center: Any, total: int) -> int:
    """A copy of `total` products through the runtime's API, downstream at 2 ms."""
    product_center.reset()
    product_center.configure(latency_ms=2)
    shops = seed_shops(total)
    status, resp = http("POST", rt.url + "/station/product/copy_task", token,
                        {"source_shop_id": shops["source"], "target_shop_id": shops["target"],
                         "product_ids": shops["product_ids"]})
    assert status == 200, resp
    return resp["data"]["task_id"]


def final_tally(task_id: int, total: int, product_center: Any, timeout_s: float) -> tuple:
    """Wait for the task to end; (row, details, items lost, duplicates, downstream stats)."""
    row = wait_for(lambda: (r := raw_row(task_id)) and r.is_final and r,
                   timeout_s, "the task to end")
    rows = details(task_id)
    seqs = {d["seq"] for d in rows}
    return row, rows, total - len(seqs), len(rows) - len(seqs), product_center.stats()


def test_worker_killed_mid_chunk_loses_and_doubles_nothing(kill_runtime, station_token,
                                                           product_center):
    total = 20_000
    task_id = start_copy_over_http(kill_runtime, station_token, product_center, total)
    rng, kills, started = random.Random(6), 0, time.monotonic()
    while time.monotonic() - started < 90:
        if raw_row(task_id).is_final:
            break
        time.sleep(rng.uniform(2.0, 3.5))      # a random moment, not a synchronization
        workers = [i["pid"] for i in kill_runtime.instances if i["handler"] == "work"]
        if workers and raw_row(task_id).status == TaskStatus.RUNNING:
            try:
                os.kill(rng.choice(workers), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
    row, rows, lost, duplicates, stats = final_tally(task_id, total, product_center, 90)
    print(f"\nFAULT worker kills: kills survived={kills} duplicates seen={duplicates} "
          f"items lost={lost} max_creates_per_key={stats['max_creates_per_key']} "
          f"seconds={time.monotonic() - started:.1f}")
    assert kills >= 10
    assert row.status == TaskStatus.FINISHED, row.reason
    assert lost == 0 and duplicates == 0
    assert all(d["outcome"] == 1 for d in rows)
    assert (row.succeeded_items, row.failed_items) == (total, 0)
    assert stats["max_creates_per_key"] == 1 and stats["creates"] == total


def run_until_final(svc, task_id: int, timeout_s: float = 120) -> Any:
    """One in-process worker: take messages (delayed re-queues included) until the task ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = raw_row(task_id)
        if row.is_final:
            return row
        for m in svc.queue.receive(1, visibility_s=60, wait_s=1):
            svc.messages.handle(m.body, lambda: 10 ** 9)
            svc.queue.delete(m.receipt)
    raise AssertionError("the task did not end")


def test_flaky_downstream_loses_nothing_and_retries_show_in_metrics(db_clean, product_center):
    from chalicelib.observability import metrics, timings
    product_center.reset()
    product_center.configure(error_rate=0.2, timeout_rate=0.05, timeout_hold_s=1.0,
                             reject_every=50, seed=7)
    shops = seed_shops(1000)
    svc = services_with(chunk_size=250, chunk_window=4, chunk_threads=10,
                        product_center_timeout_s=0.3, product_center_max_attempts=6)
    timings.publish()                                   # start from zero
    metrics.clear_metrics()
    task = create_copy(svc, shops, shops["product_ids"])
    row = run_until_final(svc, task.id)
    published = timings.publish()
    metrics.clear_metrics()
    stats = product_center.stats()
    rejected = [i for i in shops["product_ids"] if i % 50 == 0]
    rows = details(task.id)
    lost = 1000 - len({d["seq"] for d in rows})
    print(f"\nFAULT flaky downstream: requests={stats['requests']} 5xx={stats['errors_5xx']} "
          f"timeouts={stats['timeouts']} retries={published.get('DownstreamRetries', 0):.0f} "
          f"items lost={lost} duplicates={len(rows) - len({d['seq'] for d in rows})}")
    assert stats["errors_5xx"] > 100 and stats["timeouts"] > 20      # the faults happened
    assert row.status == TaskStatus.PARTIAL
    assert_each_detail_once(task.id, 1000)
    failed = [d for d in rows if d["outcome"] == 2]
    assert [d["item_id"] for d in failed] == rejected              # only the 4xx failed
    assert all("rejected" in d["reason"] for d in failed)
    assert (row.succeeded_items, row.failed_items) == (1000 - len(rejected), len(rejected))
    assert row.result["error_report_key"]
    assert stats["creates"] == 1000 - len(rejected) and stats["max_creates_per_key"] == 1
    # every retry was caused by a 5xx or a timeout, and each attempt's latency was observed
    assert 0 < published["DownstreamRetries"] <= stats["errors_5xx"] + stats["timeouts"]
    assert published["DownstreamCount"] == stats["requests"]
    assert published["DownstreamMaxMs"] >= 300                    # a timed-out attempt


def test_mariadb_restart_mid_task_completes_with_nothing_lost(kill_runtime, station_token,
                                                              product_center, private_mariadb):
    if private_mariadb is None:
        pytest.skip("TEST_DATABASE_URL names a server this suite does not own")
    total = 6000
    task_id = start_copy_over_http(kill_runtime, station_token, product_center, total)
    restarts = 0
    for threshold in (1000, 3500):                  # twice, each while workers write
        wait_for(lambda: raw_row(task_id).succeeded_items >= threshold, 60,
                 f"{threshold} items done")
        private_mariadb.restart(hard=True)          # SIGKILL: a crash, not a clean stop
        restarts += 1
    row, rows, lost, duplicates, stats = final_tally(task_id, total, product_center, 120)
    print(f"\nFAULT mariadb restarts: restarts={restarts} items lost={lost} "
          f"duplicates seen={duplicates} max_creates_per_key={stats['max_creates_per_key']}")
    assert row.status == TaskStatus.FINISHED, row.reason
    assert lost == 0 and duplicates == 0
    assert stats["creates"] == total and stats["max_creates_per_key"] == 1


def test_slices_kills_and_duplicates_lose_and_double_nothing(db_clean, stack_env, monkeypatch,
                                                             station_token, product_center):
    """Two tasks with more chunks than workers, so chunks keep yielding (SLICE_SECONDS
    0.5) while workers are SIGKILLed and every live chunk's message is sent again. The
    station may have both tasks' windows live (6 chunks for 3 workers), so work always
    waits and every running chunk yields each slice; 20 ms calls keep it going ~10 s."""
    from chalicelib.bootstrap import services
    from chalicelib.service.engine import chunk_message
    total = 5000
    with app_runtime(monkeypatch, stack_env, 3, CHUNK_SIZE="1000", CHUNK_WINDOW="3",
                     CHUNK_THREADS="8", LEASE_SECONDS="2", OUTCOME_FLUSH_MS="100",
                     MAX_CHUNK_ATTEMPTS="50", SLICE_SECONDS="0.5", STATION_MAX_CHUNKS="6",
                     SWEEP_STALE_QUEUED_S="3") as rt:
        product_center.reset()
        product_center.configure(latency_ms=20)
        shops = seed_shops(total)
        svc = services()
        tasks = [create_copy(svc, shops, shops["product_ids"], repeat=True).id
                 for _ in range(2)]
        rng, kills, dups, partial_queued = random.Random(14), 0, 0, 0
        started = time.monotonic()
        while time.monotonic() - started < 120:
            if all(raw_row(t).is_final for t in tasks):
                break
            time.sleep(rng.uniform(0.5, 1.0))      # a random moment, not a synchronization
            live = [(t, c["seq"]) for t in tasks for c in chunks(t) if c["state"] in (1, 2)]
            # part-done and not running: a chunk that yielded its slot (pending or queued
            # again), or one whose worker was killed and the sweeper re-queued
            partial_queued += sum(1 for t in tasks for c in chunks(t)
                                  if c["state"] in (0, 1) and c["succeeded"] > 0)
            svc.queue.send([chunk_message(t, s) for t, s in live])      # duplicates
            dups += len(live)
            workers = [i["pid"] for i in rt.instances if i["handler"] == "work"]
            if workers and rng.random() < 0.6:
                try:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
        tallies = [final_tally(t, total, product_center, 90) for t in tasks]
    stats = product_center.stats()
    print(f"\nFAULT slices+kills+duplicates: kills={kills} duplicate messages={dups} "
          f"chunks seen re-queued part-done={partial_queued} "
          f"lost={[t[2] for t in tallies]} doubled={[t[3] for t in tallies]} "
          f"seconds={time.monotonic() - started:.1f}")
    assert kills >= 2 and dups > 0 and partial_queued > 0
    for row, rows, lost, duplicates, _ in tallies:
        assert row.status == TaskStatus.FINISHED, row.reason
        assert lost == 0 and duplicates == 0
        assert (row.succeeded_items, row.failed_items) == (total, 0)
    # the two tasks copy the same products (repeat): distinct keys per task
    assert stats["max_creates_per_key"] == 1 and stats["creates"] == 2 * total


# -- a failed outcome flush stops the chunk's item threads --------------------------------
def pool_is_idle(pool, threads: int, timeout_s: float = 10.0) -> bool:
    """True once every pool thread is free: `threads` jobs meet at a barrier only then."""
    barrier = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(barrier.wait, timeout_s)
    try:
        barrier.wait(timeout_s)
        return True
    except threading.BrokenBarrierError:
        return False


def test_failed_flush_stops_the_item_threads(db_clean, product_center, database_url, proxy):
    total, threads = 300, 3
    product_center.configure(latency_ms=20)
    shops = seed_shops(total)
    svc = services_with(database_url=proxy.url_for(database_url), chunk_size=total,
                        chunk_threads=threads, outcome_batch_size=10, outcome_flush_ms=60_000,
                        db_retry_s=0.5, chain_chunks=False)
    create_copy(svc, shops, shops["product_ids"])
    [message] = receive_current(svc)
    proxy.go_down_after_commit_of(b"INSERT INTO tbl_task_detail")    # after the first flush
    try:
        with pytest.raises(DatabaseUnavailable):      # the DB is gone: the handler fails
            svc.messages.handle(message["Body"], lambda: 10 ** 9)
    finally:
        went_down = proxy.down
        proxy.come_back()
        acknowledge(svc, message)
    assert went_down
    # When the handler has returned, no item thread is left calling the product center.
    assert product_center.stats()["in_flight"] == 0
    calls = product_center.stats()["requests"]
    assert pool_is_idle(svc.engine.executor._pool, threads, timeout_s=1.0), "item threads still running"
    assert product_center.stats()["requests"] == calls
    assert calls < total, "the item threads ran the whole chunk after the flush failed"
