"""The chunked engine against real MariaDB, moto's SQS and S3, and the fake product center."""
from __future__ import annotations

import csv
import io
import time
import urllib.request
import uuid


from chalicelib.adapters import chunk_repo
from chalicelib.api.present import task_item
from chalicelib.domain.chunk import ChunkState, DetailOutcome, Outcome
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import TaskStatus
from tests.factories import raw_row
from tests.integration.engine_helpers import (DONE, acknowledge, chunks, count, create_copy,
                                              details, drain, queue_bodies, receive_current,
                                              seed_shops, services_with)




def test_creation_stores_plan_and_sends_only_the_window(db_clean):
    shops = seed_shops(25)
    svc = services_with(chunk_size=4, chunk_window=2)
    task = create_copy(svc, shops, shops["product_ids"])
    assert task.total_items == 25 and task.status == TaskStatus.SUBMITTED
    plan = chunks(task.id)
    assert len(plan) == 7
    assert [c["state"] for c in plan] == [1, 1, 0, 0, 0, 0, 0]
    assert sorted(b["chunk"] for b in queue_bodies(svc)) == [0, 1]


def test_copy_runs_to_finished_with_every_detail_once(db_clean, product_center):
    shops = seed_shops(25)
    svc = services_with(chunk_size=4, chunk_window=2, chunk_threads=3)
    task = create_copy(svc, shops, shops["product_ids"])
    outcomes = drain(svc)
    assert outcomes and set(outcomes) == {"complete"}
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.progress == 100
    assert (row.succeeded_items, row.failed_items) == (25, 0)
    assert row.run_count == 1 and row.start_time and row.end_time
    assert row.result == {"total": 25, "succeeded": 25, "failed": 0}
    rows = details(task.id)
    assert [d["seq"] for d in rows] == list(range(25))
    assert [d["item_id"] for d in rows] == shops["product_ids"]
    assert all(d["outcome"] == 1 and d["target_id"] for d in rows)
    stats = product_center.stats()
    assert stats["creates"] == 25 and stats["max_creates_per_key"] == 1
    assert all(c["state"] == DONE for c in chunks(task.id))


def test_partial_success_has_reasons_and_an_expiring_error_report(db_clean, product_center):
    product_center.configure(reject_every=5)
    shops = seed_shops(20)
    svc = services_with(chunk_size=8)
    task = create_copy(svc, shops, shops["product_ids"])
    drain(svc)
    row = raw_row(task.id)
    rejected = [i for i in shops["product_ids"] if i % 5 == 0]
    assert row.status == TaskStatus.PARTIAL
    assert row.failed_items == len(rejected) and row.succeeded_items == 20 - len(rejected)
    assert f"共 20 项，失败 {len(rejected)} 项" in row.reason
    failed = [d for d in details(task.id) if d["outcome"] == 2]
    assert [d["item_id"] for d in failed] == rejected
    assert all("rejected" in d["reason"] for d in failed)
    item = task_item(row, svc.files)
    url = item["result"]["error_report_url"]
    assert "error_report_key" not in item["result"]
    assert "X-Amz-Expires=60" in url or "Expires=" in url
    with urllib.request.urlopen(url) as resp:
        text = resp.read().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["seq", "item_id", "reason"]
    assert [int(r[1]) for r in lines[1:]] == rejected


def test_all_failed_is_status_5(db_clean, product_center):
    product_center.configure(reject_every=1)
    shops = seed_shops(6)
    svc = services_with(chunk_size=4)
    task = create_copy(svc, shops, shops["product_ids"])
    drain(svc)
    row = raw_row(task.id)
    assert row.status == TaskStatus.FAILED and row.failed_items == 6
    assert row.result["error_report_key"].endswith(".csv")


def test_unknown_product_fails_its_detail_only(db_clean):
    shops = seed_shops(3)
    svc = services_with()
    task = create_copy(svc, shops, shops["product_ids"] + [10 ** 12])
    drain(svc)
    row = raw_row(task.id)
    assert row.status == TaskStatus.PARTIAL
    assert details(task.id)[-1]["reason"] == "product not found in the source shop"


def test_duplicate_delivery_is_acknowledged_without_work(db_clean, product_center):
    shops = seed_shops(5)
    svc = services_with(chunk_size=5)
    task = create_copy(svc, shops, shops["product_ids"])
    [body] = queue_bodies(svc)
    assert svc.engine.run_chunk(task.id, body["chunk"], lambda: 10 ** 9) == RunResult.COMPLETE
    assert svc.engine.run_chunk(task.id, body["chunk"], lambda: 10 ** 9) == RunResult.SKIPPED
    assert product_center.stats()["requests"] == 5
    assert raw_row(task.id).succeeded_items == 5


def test_a_chunk_leased_by_a_live_worker_is_skipped(db_clean):
    shops = seed_shops(5)
    svc = services_with(chunk_size=5)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)
    svc.db.run(lambda cur: chunk_repo.claim(cur, task.id, 0, "a" * 32, 300))
    assert svc.engine.run_chunk(task.id, 0, lambda: 10 ** 9) == RunResult.SKIPPED
    assert details(task.id) == []


def test_expired_lease_is_taken_over_and_finished_work_is_not_redone(db_clean, product_center):
    shops = seed_shops(6)
    svc = services_with(chunk_size=6)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)
    dead = "d" * 32
    svc.db.run(lambda cur: chunk_repo.claim(cur, task.id, 0, dead, 300))
    # the dead worker recorded two outcomes before dying
    done = [DetailOutcome(s, shops["product_ids"][s], Outcome.SUCCEEDED, 77)
            for s in (0, 1)]
    assert svc.db.run(lambda cur: chunk_repo.record_outcomes(cur, task.id, 0, dead, 300, done))
    from chalicelib.adapters import task_repo
    svc.db.run(lambda cur: task_repo.add_outcomes(cur, task.id, 2, 0))
    svc.db.run(lambda cur: cur.execute(
        "UPDATE tbl_task_chunk SET lease_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND"))
    # the dead worker cannot write any more once its lease expired and was taken over
    assert svc.engine.run_chunk(task.id, 0, lambda: 10 ** 9) == RunResult.COMPLETE
    assert not svc.db.run(lambda cur: chunk_repo.record_outcomes(cur, task.id, 0, dead, 300, []))
    assert product_center.stats()["requests"] == 4
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.succeeded_items == 6
    assert [c["attempts"] for c in chunks(task.id)] == [2]


def test_deadline_saves_progress_and_requeues_the_rest(db_clean, product_center):
    product_center.configure(latency_ms=20)       # 30 items on 2 threads take ~300 ms
    shops = seed_shops(30)
    svc = services_with(chunk_size=30, chunk_threads=2, deadline_margin_ms=1000,
                        outcome_batch_size=5)
    task = create_copy(svc, shops, shops["product_ids"])
    [body] = queue_bodies(svc)
    calls = {"n": 0}

    def remaining_ms() -> int:
        calls["n"] += 1
        return 10 ** 9 if calls["n"] <= 2 else 500      # the Lambda is about to time out
    assert svc.engine.run_chunk(task.id, 0, remaining_ms) == "deadline"
    partial = raw_row(task.id)
    assert 0 < partial.succeeded_items < 30 and partial.status == TaskStatus.RUNNING
    assert 0 < partial.progress < 100
    [chunk] = chunks(task.id)
    assert chunk["state"] == int(ChunkState.QUEUED) and chunk["attempts"] == 0
    assert [b["chunk"] for b in queue_bodies(svc)] == [0]       # the rest is re-queued
    assert svc.engine.run_chunk(task.id, 0, lambda: 10 ** 9) == RunResult.COMPLETE
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.succeeded_items == 30
    assert product_center.stats()["creates"] == 30
    assert product_center.stats()["max_creates_per_key"] == 1


def test_downstream_down_retries_then_fails_items_with_a_reason(db_clean, product_center):
    product_center.configure(error_rate=1.0)
    shops = seed_shops(3)
    svc = services_with(chunk_size=3, product_center_max_attempts=2, max_chunk_attempts=2)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)
    for attempt in range(2):
        assert svc.engine.run_chunk(task.id, 0, lambda: 10 ** 9) == RunResult.UNAVAILABLE
        assert details(task.id) == []
    assert product_center.stats()["requests"] == 2 * 3 * 2
    assert svc.engine.run_chunk(task.id, 0, lambda: 10 ** 9) == RunResult.COMPLETE
    row = raw_row(task.id)
    assert row.status == TaskStatus.FAILED
    assert all("下游系统或数据库不可用" in d["reason"] for d in details(task.id))


def test_large_task_creation_writes_chunk_rows_not_detail_rows(db_clean):
    shops = seed_shops(1)
    svc = services_with(max_copy_items=100_000)
    ids = list(range(1, 100_001))
    task = create_copy(svc, shops, ids)
    assert len(chunks(task.id)) == 100 and count("tbl_task_detail") == 0
    assert len(queue_bodies(svc)) == svc.settings.chunk_window
    assert len(task_repo_input(task.id)) < 300


def task_repo_input(task_id):
    from chalicelib.adapters import task_repo
    from chalicelib.bootstrap import services
    return services().db.run(lambda cur: task_repo.get_input(cur, task_id))


def test_next_chunk_runs_in_place_when_nothing_else_waits(db_clean, product_center):
    shops = seed_shops(12)
    svc = services_with(chunk_size=4, chunk_window=1)
    task = create_copy(svc, shops, shops["product_ids"])
    [body] = queue_bodies(svc)
    assert svc.engine.run_chunk(task.id, body["chunk"], lambda: 10 ** 9) == RunResult.COMPLETE
    assert queue_bodies(svc) == []                 # no SQS trip between the 3 chunks
    assert raw_row(task.id).status == TaskStatus.FINISHED
    assert [c["state"] for c in chunks(task.id)] == [DONE] * 3


def test_next_chunk_goes_through_the_queue_when_other_work_waits(db_clean, product_center):
    shops = seed_shops(12)
    svc = services_with(chunk_size=4, chunk_window=1)
    big = create_copy(svc, shops, shops["product_ids"][:8])
    small = create_copy(svc, shops, shops["product_ids"][8:9])
    bodies = queue_bodies(svc)
    assert [b["task_id"] for b in bodies] == [big.id, small.id]
    svc.queue.send([bodies[1]])                    # the small task's message waits
    assert svc.engine.run_chunk(big.id, 0, lambda: 10 ** 9) == RunResult.COMPLETE
    assert [(b["task_id"], b["chunk"]) for b in queue_bodies(svc)] == [
        (small.id, 0), (big.id, 1)]        # handed on behind the waiting message


def test_no_chaining_near_the_deadline(db_clean, product_center):
    shops = seed_shops(8)
    svc = services_with(chunk_size=4, chunk_window=1, deadline_margin_ms=1000)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)
    margin = svc.engine.settings.deadline_margin_ms   # at least the worst item's time
    assert svc.engine.run_chunk(task.id, 0, lambda: int(2.5 * margin)) == RunResult.COMPLETE
    assert [b["chunk"] for b in queue_bodies(svc)] == [1]


def test_an_unreadable_queue_depth_hands_the_next_chunk_to_the_queue(db_clean, product_center):
    from botocore.exceptions import EndpointConnectionError
    shops = seed_shops(8)
    svc = services_with(chunk_size=4, chunk_window=1)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)

    def refuse(**_: object) -> None:        # SQS unreachable for the depth read only
        raise EndpointConnectionError(endpoint_url=svc.queue.url)
    events = svc.queue.sqs.meta.events
    events.register("before-call.sqs.GetQueueAttributes", refuse)
    try:
        assert svc.engine.run_chunk(task.id, 0, lambda: 10 ** 9) == RunResult.COMPLETE
    finally:
        events.unregister("before-call.sqs.GetQueueAttributes", refuse)
    # completed and released in one transaction; can't tell what waits: the fair path
    assert [c["state"] for c in chunks(task.id)] == [DONE, ChunkState.QUEUED]
    assert [b["chunk"] for b in queue_bodies(svc)] == [1]


# -- downstream text that is not valid Unicode is stored, not a failed flush -------------
def test_a_downstream_reason_with_a_lone_surrogate_is_stored(db_clean):
    svc = services_with(chunk_size=4)
    shops = seed_shops(2)
    task = create_copy(svc, shops, shops["product_ids"])
    token = uuid.uuid4().hex
    svc.db.run(lambda cur: chunk_repo.claim(cur, task.id, 0, token, 60))
    outcome = DetailOutcome(0, shops["product_ids"][0], Outcome.FAILED, reason="bad \ud800 name")
    assert svc.db.run(lambda cur: chunk_repo.record_outcomes(cur, task.id, 0, token, 60,
                                                             [outcome]))
    assert details(task.id)[0]["reason"] == "bad ? name"


def test_recorded_outcomes_keep_every_value_as_given(db_clean):
    """The detail INSERT is formatted by chunk_repo itself: quotes, backslashes, percent
    signs, SQL and Chinese in a reason, no target id, a reason over 512 characters, and a
    batch larger than one statement all come back exactly as stored values."""
    svc = services_with(chunk_size=4)
    shops = seed_shops(4)
    task = create_copy(svc, shops, shops["product_ids"])
    token = uuid.uuid4().hex
    svc.db.run(lambda cur: chunk_repo.claim(cur, task.id, 0, token, 60))
    ids = shops["product_ids"]
    hostile = "it's \\ \"q\" %s %(x)s '); DROP TABLE tbl_task_detail; -- 商品"
    batch = [DetailOutcome(0, ids[0], Outcome.SUCCEEDED, target_id=2**63),
             DetailOutcome(1, ids[1], Outcome.FAILED, reason=hostile),
             DetailOutcome(2, ids[2], Outcome.FAILED, reason="x" * 600),
             DetailOutcome(3, ids[3], Outcome.CANCELLED, reason="")]
    before = svc.db.run(lambda cur: (cur.execute("SELECT UTC_TIMESTAMP(3) AS t"),
                                     cur.fetchone()["t"])[1])
    assert svc.db.run(lambda cur: chunk_repo.record_outcomes(cur, task.id, 0, token, 60, batch))

    def rows(cur):
        cur.execute("SELECT seq, item_id, outcome, target_id, reason, finish_time"
                    " FROM tbl_task_detail WHERE task_id=%s ORDER BY seq", (task.id,))
        return cur.fetchall()
    got = svc.db.run(rows)
    assert [(r["seq"], r["item_id"], r["outcome"], r["target_id"], r["reason"]) for r in got] == [
        (0, ids[0], 1, 2**63, ""), (1, ids[1], 2, None, hostile), (2, ids[2], 2, None, "x" * 512),
        (3, ids[3], 3, None, "")]
    assert all(r["finish_time"] >= before for r in got)     # the server's clock


def test_a_batch_longer_than_one_statement_is_split(db_clean, monkeypatch):
    svc = services_with(chunk_size=4)
    shops = seed_shops(4)
    task = create_copy(svc, shops, shops["product_ids"])
    token = uuid.uuid4().hex
    svc.db.run(lambda cur: chunk_repo.claim(cur, task.id, 0, token, 60))
    monkeypatch.setattr(chunk_repo, "_MAX_STATEMENT", 100)     # two rows a statement
    batch = [DetailOutcome(s, item_id, Outcome.FAILED, reason=f"reason {s}")
             for s, item_id in enumerate(shops["product_ids"])]
    assert svc.db.run(lambda cur: chunk_repo.record_outcomes(cur, task.id, 0, token, 60, batch))
    assert [(d["seq"], d["reason"]) for d in details(task.id)] == [
        (s, f"reason {s}") for s in range(4)]


# -- the deadline margin covers the worst single item -------------------------------------
def test_no_item_is_in_flight_when_the_invocation_deadline_comes(db_clean, product_center):
    """Every create times out (the fake holds it): each item takes attempts x timeout plus
    backoffs. With the margin configured below that (500 ms), the engine must still stop
    taking items early enough that the chunk is saved before the Lambda deadline."""
    product_center.configure(timeout_rate=1.0, timeout_hold_s=5)
    shops = seed_shops(20)
    svc = services_with(chunk_size=20, chunk_threads=1, product_center_timeout_s=0.4,
                        product_center_max_attempts=4, deadline_margin_ms=500,
                        chain_chunks=False)
    create_copy(svc, shops, shops["product_ids"])
    [message] = receive_current(svc)
    budget_s = 0.8       # what the invocation has left: above the configured 500 ms margin
    deadline = time.monotonic() + budget_s
    outcome = svc.messages.handle(message["Body"],
                                  lambda: max(0, int((deadline - time.monotonic()) * 1000)))
    finished = time.monotonic()
    acknowledge(svc, message)
    queue_bodies(svc)                   # the re-queued chunk's message
    assert finished <= deadline, f"worked {finished - deadline:.2f}s past the deadline"
    assert product_center.stats()["in_flight"] == 0


# -- downstream idempotency keys are never reused by another task -------------------------
def test_a_restored_database_reusing_task_ids_does_not_reuse_downstream_keys(
        db_clean, product_center):
    """A database restored from a backup (or a second stage, or a re-created schema) hands
    out task ids again. The downstream must see new keys for the new task, or it answers
    the old task's products and creates nothing."""
    shops = seed_shops(3)
    svc = services_with(chunk_size=10)
    first = create_copy(svc, shops, shops["product_ids"])
    drain(svc)
    assert product_center.stats()["creates"] == 3

    def restore(cur) -> None:          # back to a backup taken before `first` existed
        for table in ("tbl_task_detail", "tbl_task_chunk"):
            cur.execute(f"DELETE FROM {table} WHERE task_id=%s", (first.id,))
        cur.execute("DELETE FROM tbl_async_task WHERE id=%s", (first.id,))
        cur.execute(f"ALTER TABLE tbl_async_task AUTO_INCREMENT = {int(first.id)}")
    svc.db.run(restore)
    second = create_copy(svc, shops, shops["product_ids"])
    assert second.id == first.id, "the restore did not reuse the id"
    drain(svc)
    stats = product_center.stats()
    assert (stats["creates"], stats["replays"]) == (6, 0), stats
