"""SQL of the chunk scheduling decisions: does other work wait (time slices), and which of
a station's chunks may be queued now (station fairness, chalicelib/service/scheduling.py)."""
from __future__ import annotations

from pymysql.cursors import DictCursor

from chalicelib.domain.chunk import ChunkState
from chalicelib.domain.fairness import TaskChunks
from chalicelib.domain.task import TaskStatus


def queued_chunks(cur: DictCursor, task_id: int) -> int:
    """Chunks of the task marked queued (their messages are in the queue or on their way)."""
    cur.execute("SELECT COUNT(*) AS n FROM tbl_task_chunk WHERE task_id=%s AND state=%s",
                (task_id, int(ChunkState.QUEUED)))
    return cur.fetchone()["n"]


def yield_chunk(cur: DictCursor, task_id: int, seq: int, token: str) -> bool:
    """A leased chunk gives its slot up at the end of a time slice: back to pending (no
    message; the station's release queues it again), its attempt not counted."""
    cur.execute("UPDATE tbl_task_chunk SET state=%s, lease_token=NULL, lease_until=NULL,"
                " attempts=GREATEST(attempts - 1, 0), queued_at=NULL, modify_time=UTC_TIMESTAMP(3)"
                " WHERE task_id=%s AND seq=%s AND state=%s AND lease_token=%s",
                (int(ChunkState.PENDING), task_id, seq, int(ChunkState.RUNNING), token))
    return cur.rowcount == 1


def lock_station(cur: DictCursor, station_id: str) -> None:
    """Take the station's release lock until the transaction ends (the row is made on
    first use; ON DUPLICATE KEY UPDATE takes the row's exclusive lock in one statement)."""
    cur.execute("INSERT INTO tbl_station_schedule (station_id, releases, modify_time)"
                " VALUES (%s, 1, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE"
                " releases=releases+1, modify_time=UTC_TIMESTAMP(3)", (station_id,))


def station_tasks(cur: DictCursor, station_id: str) -> list[TaskChunks]:
    """The station's unfinished tasks with a chunk plan: chunks queued or running, and
    chunks not yet queued."""
    cur.execute("SELECT c.task_id, SUM(c.state IN (%s, %s)) AS active, SUM(c.state=%s) AS pending"
                " FROM tbl_async_task t JOIN tbl_task_chunk c ON c.task_id=t.id"
                " WHERE t.station_id=%s AND t.status IN (%s, %s) GROUP BY c.task_id",
                (int(ChunkState.QUEUED), int(ChunkState.RUNNING), int(ChunkState.PENDING),
                 station_id, int(TaskStatus.SUBMITTED), int(TaskStatus.RUNNING)))
    return [TaskChunks(r["task_id"], int(r["active"]), int(r["pending"])) for r in cur.fetchall()]


def station_of(cur: DictCursor, task_id: int) -> str | None:
    cur.execute("SELECT station_id FROM tbl_async_task WHERE id=%s", (task_id,))
    row = cur.fetchone()
    return row["station_id"] if row else None
