"""SQL of a task's notification job (columns of tbl_async_task, migration 0015).

Every function takes an open cursor; the caller owns the transaction. The job's runs are
numbered (notify_seq); every write after a claim is conditional on the job's id and the
run's number, so a run that lost its lease to another one writes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymysql.cursors import DictCursor


@dataclass(frozen=True)
class Job:
    task_id: int
    station_id: str
    callback_url: str | None
    notify_id: str | None
    notify_state: int
    event_state: int
    seq: int
    attempts: int
    due_passed: bool        # notify_due_at is in the past (a run's lease has expired)
    pending: bool           # notify_due_at is set: something is still to be sent


def lock(cur: DictCursor, task_id: int) -> Job | None:
    """The job, locked (waits for a finishing transaction that holds the row)."""
    cur.execute("SELECT id, station_id, callback_url, notify_id, notify_state, event_state,"
                " notify_seq, notify_attempts, notify_due_at,"
                " notify_due_at < UTC_TIMESTAMP(3) AS due_passed"
                " FROM tbl_async_task WHERE id=%s FOR UPDATE", (task_id,))
    row = cur.fetchone()
    if row is None:
        return None
    return Job(task_id=row["id"], station_id=row["station_id"],
               callback_url=row["callback_url"], notify_id=row["notify_id"],
               notify_state=row["notify_state"], event_state=row["event_state"],
               seq=row["notify_seq"], attempts=row["notify_attempts"],
               due_passed=bool(row["due_passed"]), pending=row["notify_due_at"] is not None)


def claim(cur: DictCursor, task_id: int, seq: int, lease_s: int) -> None:
    """Run `seq` holds the job for lease_s seconds."""
    cur.execute("UPDATE tbl_async_task SET notify_seq=%s,"
                " notify_due_at=DATE_ADD(UTC_TIMESTAMP(3), INTERVAL %s SECOND) WHERE id=%s",
                (seq, lease_s, task_id))


def record(cur: DictCursor, task_id: int, notify_id: str, seq: int, *,
           notify_state: int | None = None, event_state: int | None = None,
           attempted: bool = False, error: str | None = None, delivered: bool = False,
           next_in_s: int | None = None) -> int:
    """What run `seq` did; next_in_s None closes the job (nothing pending). Row count:
    0 when another run took the job over."""
    sets: list[str] = []
    args: list[Any] = []
    if notify_state is not None:
        sets.append("notify_state=%s")
        args.append(notify_state)
    if event_state is not None:
        sets.append("event_state=%s")
        args.append(event_state)
    if attempted:
        sets.append("notify_attempts=notify_attempts+1")
    if error is not None:
        sets.append("notify_last_error=%s")
        args.append(error[:512])
    if delivered:
        sets.append("notified_at=UTC_TIMESTAMP(3)")
    if next_in_s is None:
        sets.append("notify_due_at=NULL")
    else:
        sets.append("notify_due_at=DATE_ADD(UTC_TIMESTAMP(3), INTERVAL %s SECOND)")
        args.append(next_in_s)
    cur.execute(f"UPDATE tbl_async_task SET {', '.join(sets)}"
                " WHERE id=%s AND notify_id=%s AND notify_seq=%s",
                (*args, task_id, notify_id, seq))
    return cur.rowcount


def overdue(cur: DictCursor, after_s: int, limit: int) -> list[dict[str, Any]]:
    """Jobs whose next run is overdue by after_s (its message lost, or its run died),
    locked and skipped by another sweeper; each is touched so it is not re-sent again
    before another after_s."""
    cur.execute("SELECT id, station_id, notify_id, notify_seq FROM tbl_async_task"
                " WHERE notify_due_at < DATE_SUB(UTC_TIMESTAMP(3), INTERVAL %s SECOND)"
                " ORDER BY notify_due_at LIMIT %s FOR UPDATE SKIP LOCKED", (after_s, limit))
    rows = list(cur.fetchall())
    if rows:
        ids = [r["id"] for r in rows]
        cur.execute("UPDATE tbl_async_task SET notify_due_at=UTC_TIMESTAMP(3)"
                    f" WHERE id IN ({', '.join(['%s'] * len(ids))})", ids)
    return rows
