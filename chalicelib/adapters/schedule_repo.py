"""SQL of the chunk scheduling decisions: does other work wait (time slices), and which of
a station's chunks may be queued now (station fairness, chalicelib/service/scheduling.py)."""
from __future__ import annotations

from pymysql.cursors import DictCursor

from chalicelib.domain.chunk import ChunkState


def queued_chunks(cur: DictCursor, task_id: int) -> int:
    """Chunks of the task marked queued (their messages are in the queue or on their way)."""
    cur.execute("SELECT COUNT(*) AS n FROM tbl_task_chunk WHERE task_id=%s AND state=%s",
                (task_id, int(ChunkState.QUEUED)))
    return cur.fetchone()["n"]
