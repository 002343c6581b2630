"""SQL for the chunk plan (tbl_task_chunk) and detail outcomes (tbl_task_detail).

Chunk states and detail outcomes, with their legal moves, are chalicelib/domain/chunk.py
(re-exported here for the callers that write outcomes). Writes by a worker are
conditional on its lease token, so a worker whose lease expired cannot write anything.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from pymysql.cursors import DictCursor

from chalicelib.adapters.db import storable_text
from chalicelib.domain.chunk import REOPENED_OUTCOMES, ChunkState, DetailOutcome, Outcome
from chalicelib.domain.chunking import ChunkPlan
from chalicelib.domain.task import TaskStatus


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def insert_plan(cur: DictCursor, task_id: int, plan: Sequence[ChunkPlan], window: int) -> list[int]:
    """Store the plan; the first `window` chunks are marked queued. Returns their seqs."""
    now = utcnow()
    rows = []
    for chunk in plan:
        queued = chunk.seq < window
        rows.append((task_id, chunk.seq, chunk.first_item, chunk.item_count,
                     json.dumps(list(chunk.item_ids), separators=(",", ":")),
                     int(ChunkState.QUEUED if queued else ChunkState.PENDING),
                     now if queued else None, now))
    # Every value is a %s parameter so pymysql sends one multi-row INSERT.
    cur.executemany("INSERT INTO tbl_task_chunk (task_id, seq, first_item, item_count, item_ids,"
                    " state, queued_at, modify_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    rows)
    return [c.seq for c in plan if c.seq < window]


def claim(cur: DictCursor, task_id: int, seq: int, token: str, lease_s: int) -> dict[str, Any] | None:
    """Lease a chunk that is pending, queued or whose lease expired; None if not claimable."""
    cur.execute(
        "UPDATE tbl_task_chunk SET state=%s, lease_token=%s,"
        " lease_until=UTC_TIMESTAMP(3) + INTERVAL %s SECOND, attempts=attempts+1,"
        " modify_time=UTC_TIMESTAMP(3)"
        " WHERE task_id=%s AND seq=%s AND (state IN (%s, %s)"
        " OR (state=%s AND lease_until < UTC_TIMESTAMP(3)))",
        (int(ChunkState.RUNNING), token, lease_s, task_id, seq, int(ChunkState.PENDING),
         int(ChunkState.QUEUED), int(ChunkState.RUNNING)))
    if cur.rowcount != 1:
        return None
    cur.execute("SELECT task_id, seq, first_item, item_count, item_ids, attempts"
                " FROM tbl_task_chunk WHERE task_id=%s AND seq=%s", (task_id, seq))
    row = cur.fetchone()
    row["item_ids"] = json.loads(row["item_ids"])
    return row


def chunk_items(cur: DictCursor, task_id: int, seq: int) -> list[tuple[int, int]]:
    """(item seq, item id) of every item of a chunk."""
    cur.execute("SELECT first_item, item_ids FROM tbl_task_chunk WHERE task_id=%s AND seq=%s",
                (task_id, seq))
    row = cur.fetchone()
    return [(row["first_item"] + i, item_id) for i, item_id in enumerate(json.loads(row["item_ids"]))]


def finished_seqs(cur: DictCursor, task_id: int, first: int, count: int) -> set[int]:
    cur.execute("SELECT seq FROM tbl_task_detail WHERE task_id=%s AND seq >= %s AND seq < %s",
                (task_id, first, first + count))
    return {row["seq"] for row in cur.fetchall()}


def record_outcomes(cur: DictCursor, task_id: int, seq: int, token: str, lease_s: int,
                    outcomes: Sequence[DetailOutcome]) -> bool:
    """Write a batch of outcomes under the lease (extending it). False: the lease is lost."""
    succeeded = sum(1 for o in outcomes if o.outcome == Outcome.SUCCEEDED)
    failed = sum(1 for o in outcomes if o.outcome == Outcome.FAILED)
    cur.execute("UPDATE tbl_task_chunk SET succeeded=succeeded+%s, failed=failed+%s,"
                " lease_until=UTC_TIMESTAMP(3) + INTERVAL %s SECOND, modify_time=UTC_TIMESTAMP(3)"
                " WHERE task_id=%s AND seq=%s AND state=%s AND lease_token=%s",
                (succeeded, failed, lease_s, task_id, seq,
                 int(ChunkState.RUNNING), token))
    if cur.rowcount != 1:
        return False
    if outcomes:
        _insert_details(cur, task_id, outcomes)
    return True


def renew_lease(cur: DictCursor, task_id: int, seq: int, token: str, lease_s: int) -> bool:
    """Extend a held lease by `lease_s` from the database's clock; False: it is lost (expired
    and claimed by another worker, or the chunk ended)."""
    cur.execute("UPDATE tbl_task_chunk SET lease_until=UTC_TIMESTAMP(3) + INTERVAL %s SECOND,"
                " modify_time=UTC_TIMESTAMP(3)"
                " WHERE task_id=%s AND seq=%s AND state=%s AND lease_token=%s",
                (lease_s, task_id, seq, int(ChunkState.RUNNING), token))
    if cur.rowcount == 1:
        return True
    # 0 rows: lost, or renewed twice within a millisecond (the server counts changed rows)
    cur.execute("SELECT 1 FROM tbl_task_chunk WHERE task_id=%s AND seq=%s AND state=%s"
                " AND lease_token=%s", (task_id, seq, int(ChunkState.RUNNING), token))
    return cur.fetchone() is not None


_DETAIL_INSERT = ("INSERT INTO tbl_task_detail (task_id, seq, item_id, outcome, target_id,"
                  " reason, finish_time) VALUES ")
_MAX_STATEMENT = 1_000_000      # characters per INSERT, as pymysql's executemany splits


def _insert_details(cur: DictCursor, task_id: int, outcomes: Sequence[DetailOutcome]) -> None:
    """The batch's detail rows as multi-row INSERTs, finish_time the server's clock.

    The statement is formatted here rather than by executemany: every number goes through
    int() (so nothing but digits reaches the SQL), every reason through the connection's
    own escape(); an empty reason (nearly every row) is the literal ''. This is the cost
    of the batch write that the profile showed (pymysql escapes each of 7 values per row
    through its generic converters, a datetime among them)."""
    escape = cur.connection.escape
    head = f"({int(task_id)},"
    rows: list[str] = []
    size = 0
    for o in outcomes:
        target = "NULL" if o.target_id is None else str(int(o.target_id))
        reason = escape(storable_text(o.reason)[:512]) if o.reason else "''"
        row = (f"{head}{int(o.seq)},{int(o.item_id)},{int(o.outcome)},{target},{reason},"
               "UTC_TIMESTAMP(3))")
        if rows and size + len(row) > _MAX_STATEMENT:
            cur.execute(_DETAIL_INSERT + ",".join(rows))
            rows, size = [], 0
        rows.append(row)
        size += len(row) + 1
    cur.execute(_DETAIL_INSERT + ",".join(rows))


def release(cur: DictCursor, task_id: int, seq: int, token: str, *, count_attempt: bool) -> bool:
    """Give a leased chunk back as queued (its message is about to be re-sent)."""
    cur.execute("UPDATE tbl_task_chunk SET state=%s, lease_token=NULL, lease_until=NULL,"
                " attempts=attempts - %s, queued_at=UTC_TIMESTAMP(3), modify_time=UTC_TIMESTAMP(3)"
                " WHERE task_id=%s AND seq=%s AND state=%s AND lease_token=%s",
                (int(ChunkState.QUEUED), 0 if count_attempt else 1, task_id, seq,
                 int(ChunkState.RUNNING), token))
    return cur.rowcount == 1


def complete(cur: DictCursor, task_id: int, seq: int, token: str) -> bool:
    cur.execute("UPDATE tbl_task_chunk SET state=%s, lease_token=NULL, lease_until=NULL,"
                " modify_time=UTC_TIMESTAMP(3)"
                " WHERE task_id=%s AND seq=%s AND state=%s AND lease_token=%s",
                (int(ChunkState.DONE), task_id, seq, int(ChunkState.RUNNING), token))
    return cur.rowcount == 1


def queue_next_pending(cur: DictCursor, task_id: int, limit: int = 1) -> list[int]:
    """Mark the task's next pending chunks queued; returns their seqs (caller sends messages)."""
    cur.execute("SELECT seq FROM tbl_task_chunk WHERE task_id=%s AND state=%s ORDER BY seq"
                " LIMIT %s FOR UPDATE SKIP LOCKED", (task_id, int(ChunkState.PENDING), limit))
    seqs = [row["seq"] for row in cur.fetchall()]
    if seqs:
        marks = ", ".join(["%s"] * len(seqs))
        cur.execute(f"UPDATE tbl_task_chunk SET state=%s, queued_at=UTC_TIMESTAMP(3),"
                    f" modify_time=UTC_TIMESTAMP(3) WHERE task_id=%s AND seq IN ({marks})",
                    (int(ChunkState.QUEUED), task_id, *seqs))
    return seqs


def unfinished_count(cur: DictCursor, task_id: int) -> int:
    cur.execute("SELECT COUNT(*) AS n FROM tbl_task_chunk WHERE task_id=%s AND state NOT IN (%s, %s)",
                (task_id, int(ChunkState.DONE), int(ChunkState.FAILED)))
    return cur.fetchone()["n"]


def failed_details(cur: DictCursor, task_id: int, limit: int | None = None, *,
                   after_seq: int | None = None) -> Iterable[dict[str, Any]]:
    """The task's failed items in seq order (after `after_seq`: a keyset page), a range
    of idx_task_outcome (task_id, outcome, seq)."""
    sql = ("SELECT seq, item_id, reason, finish_time FROM tbl_task_detail"
           " WHERE task_id=%s AND outcome=%s")
    args: tuple[Any, ...] = (task_id, int(Outcome.FAILED))
    if after_seq is not None:
        sql, args = sql + " AND seq > %s", (*args, after_seq)
    sql += " ORDER BY seq"
    if limit is not None:
        sql, args = sql + " LIMIT %s", (*args, limit)
    cur.execute(sql, args)
    return cur.fetchall()


def overview(cur: DictCursor, task_id: int) -> list[dict[str, Any]]:
    """Every chunk of a task with its state, attempts, counts and lease (for operators)."""
    cur.execute("SELECT seq, state, item_count, attempts, succeeded, failed, lease_until,"
                " queued_at, modify_time FROM tbl_task_chunk WHERE task_id=%s ORDER BY seq",
                (task_id,))
    return list(cur.fetchall())


def reopen_unsucceeded(cur: DictCursor, task_id: int) -> tuple[int, int, int]:
    """For a retry: every chunk not fully succeeded becomes pending with fresh attempts,
    and its items that failed or were cancelled pending again (their detail rows go; an
    item with no row is pending already). Returns (failed, cancelled, chunks reopened)."""
    not_ok = tuple(int(o) for o in REOPENED_OUTCOMES)      # failed, cancelled
    cur.execute("SELECT outcome, COUNT(*) AS n FROM tbl_task_detail WHERE task_id=%s"
                " AND outcome IN (%s, %s) GROUP BY outcome", (task_id, *not_ok))
    counts = {row["outcome"]: row["n"] for row in cur.fetchall()}
    cur.execute("UPDATE tbl_task_chunk c SET c.state=%s, c.attempts=0, c.failed=0,"
                " c.lease_token=NULL, c.lease_until=NULL, c.queued_at=NULL,"
                " c.modify_time=UTC_TIMESTAMP(3) WHERE c.task_id=%s AND c.item_count >"
                " (SELECT COUNT(*) FROM tbl_task_detail d WHERE d.task_id=c.task_id"
                " AND d.outcome=%s AND d.seq >= c.first_item"
                " AND d.seq < c.first_item + c.item_count)",
                (int(ChunkState.PENDING), task_id, int(Outcome.SUCCEEDED)))
    reopened = cur.rowcount
    cur.execute("DELETE FROM tbl_task_detail WHERE task_id=%s AND outcome IN (%s, %s)",
                (task_id, *not_ok))
    return counts.get(int(Outcome.FAILED), 0), counts.get(int(Outcome.CANCELLED), 0), reopened


def has_plan(cur: DictCursor, task_id: int) -> bool:
    """True for engine tasks (they have a chunk plan)."""
    cur.execute("SELECT 1 FROM tbl_task_chunk WHERE task_id=%s LIMIT 1", (task_id,))
    return cur.fetchone() is not None


# -- sweeper queries --------------------------------------------------------------------
def requeue_expired_leases(cur: DictCursor, limit: int, max_attempts: int | None = None
                           ) -> list[tuple[int, int]]:
    """Chunks whose worker died or timed out: back to queued. Returns (task_id, seq).

    The crashed run already counted its attempt at claim time; chunks that have used
    `max_attempts` are left for `expired_past_attempts` (the sweeper fails them).
    """
    extra, params = "", []
    if max_attempts is not None:
        extra, params = " AND attempts < %s", [max_attempts]
    cur.execute("SELECT task_id, seq FROM tbl_task_chunk WHERE state=%s"
                " AND lease_until < UTC_TIMESTAMP(3)" + extra + " LIMIT %s FOR UPDATE SKIP LOCKED",
                (int(ChunkState.RUNNING), *params, limit))
    return _mark_queued(cur, [(r["task_id"], r["seq"]) for r in cur.fetchall()])


def expired_past_attempts(cur: DictCursor, max_attempts: int, limit: int) -> list[tuple[int, int]]:
    """Expired leases of chunks that have used all their attempts (a poison chunk)."""
    cur.execute("SELECT task_id, seq FROM tbl_task_chunk WHERE state=%s"
                " AND lease_until < UTC_TIMESTAMP(3) AND attempts >= %s LIMIT %s",
                (int(ChunkState.RUNNING), max_attempts, limit))
    return [(r["task_id"], r["seq"]) for r in cur.fetchall()]


def mark_failed(cur: DictCursor, task_id: int, seq: int, token: str) -> bool:
    """End a leased chunk as failed (its pending items were just recorded as failed)."""
    cur.execute("UPDATE tbl_task_chunk SET state=%s, lease_token=NULL, lease_until=NULL,"
                " modify_time=UTC_TIMESTAMP(3)"
                " WHERE task_id=%s AND seq=%s AND state=%s AND lease_token=%s",
                (int(ChunkState.FAILED), task_id, seq, int(ChunkState.RUNNING), token))
    return cur.rowcount == 1


def requeue_stale_queued(cur: DictCursor, older_than_s: int, limit: int) -> list[tuple[int, int]]:
    """Chunks queued long ago and never claimed (a lost or never-sent message)."""
    cur.execute("SELECT task_id, seq FROM tbl_task_chunk WHERE state=%s"
                " AND queued_at < UTC_TIMESTAMP(3) - INTERVAL %s SECOND"
                " LIMIT %s FOR UPDATE SKIP LOCKED",
                (int(ChunkState.QUEUED), older_than_s, limit))
    return _mark_queued(cur, [(r["task_id"], r["seq"]) for r in cur.fetchall()])


def stalled_tasks(cur: DictCursor, limit: int) -> list[int]:
    """Unfinished tasks with pending chunks but none queued or running: a lost hand-on, or
    a task waiting for its station's slots (the sweeper releases within the bound)."""
    cur.execute("SELECT c.task_id FROM tbl_async_task t JOIN tbl_task_chunk c ON c.task_id=t.id"
                " WHERE t.status IN (%s, %s) GROUP BY c.task_id"
                " HAVING SUM(c.state=%s) > 0 AND SUM(c.state IN (%s, %s)) = 0 LIMIT %s",
                (int(TaskStatus.SUBMITTED), int(TaskStatus.RUNNING), int(ChunkState.PENDING),
                 int(ChunkState.QUEUED), int(ChunkState.RUNNING), limit))
    return [r["task_id"] for r in cur.fetchall()]


def _mark_queued(cur: DictCursor, keys: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if keys:
        pairs = ", ".join(["(%s, %s)"] * len(keys))
        cur.execute("UPDATE tbl_task_chunk SET state=%s, lease_token=NULL, lease_until=NULL,"
                    " queued_at=UTC_TIMESTAMP(3), modify_time=UTC_TIMESTAMP(3)"
                    f" WHERE (task_id, seq) IN ({pairs})",
                    (int(ChunkState.QUEUED), *(v for key in keys for v in key)))
    return keys
