"""Station fairness: a station has at most STATION_MAX_CHUNKS chunks queued or running.

A task's chunks are created pending; `release(station)` queues the station's pending
chunks that fit under its bound (and each task's CHUNK_WINDOW), choosing among the
station's tasks by chalicelib/domain/fairness.py, under the station's lock row, in its
own short transaction. The engine calls it when a task is created or retried and after
each chunk of the station ends; the sweeper calls it for tasks with pending chunks and
none queued (a worker that died between finishing a chunk and releasing the next), so a
lost release never strands a station.

Every message to the work queue carries MessageGroupId = the station: on AWS, an SQS fair
queue then serves the quiet stations' messages first when one station has a backlog.
"""
from __future__ import annotations

from typing import Any

from chalicelib.adapters import chunk_repo, schedule_repo
from chalicelib.adapters.db import Database
from chalicelib.domain.fairness import pick, starving


class StationScheduler:
    def __init__(self, db: Database, bound: int, window: int):
        self.db, self.bound, self.window = db, bound, window
        self._stations: dict[int, str] = {}

    def release(self, station_id: str, yielding: int | None = None) -> list[tuple[int, int]]:
        """Queue what fits of the station's pending chunks; (task_id, seq) to send."""
        return self.db.run(lambda cur: self.release_in(cur, station_id, yielding))

    def release_in(self, cur: Any, station_id: str, yielding: int | None = None
                   ) -> list[tuple[int, int]]:
        """release() inside the caller's transaction, which then holds the station's lock
        until it ends. Call it before the transaction's first plain read: the counts are
        read after the lock is taken (REPEATABLE READ takes its snapshot at that read).
        Holding the lock, nothing here waits on a chunk row (SKIP LOCKED), so a caller
        that updated a chunk row first cannot deadlock with another release."""
        schedule_repo.lock_station(cur, station_id)
        chosen = pick(schedule_repo.station_tasks(cur, station_id), self.bound, self.window,
                      yielding)
        out: list[tuple[int, int]] = []
        for task_id, n in sorted(chosen.items()):
            out += [(task_id, seq) for seq in chunk_repo.queue_next_pending(cur, task_id, n)]
        return out

    def sibling_starving(self, station_id: str, task_id: int) -> bool:
        return starving(self.db.run(lambda cur: schedule_repo.station_tasks(cur, station_id)),
                        besides=task_id)

    def station(self, task_id: int) -> str | None:
        """The task's station (it never changes, so it is remembered per process)."""
        if task_id not in self._stations:
            station = self.db.run(lambda cur: schedule_repo.station_of(cur, task_id))
            if station is None:
                return None
            if len(self._stations) > 10_000:
                self._stations.clear()
            self._stations[task_id] = station
        return self._stations[task_id]
