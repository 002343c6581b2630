"""What operators need beyond the station-scoped API: every station's tasks, a task's chunks
and failures, cancel and retry by task id, the dead-letter queue and a sweep on demand.

Used by the operator CLI (chalicelib/cli.py). Cancel and retry go through the same
TaskControl as the API, scoped to the task's own station.
"""
from __future__ import annotations

from typing import Any, Sequence

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.adapters.db import Database
from chalicelib.domain.task import Task
from chalicelib import texts
from chalicelib.errors import NotFound
from chalicelib.service import budget
from chalicelib.service.control import CancelReport, TaskControl
from chalicelib.service.dead_letters import DeadLetters, RedriveReport
from chalicelib.service.sweeper import SweepReport, Sweeper


class Operator:
    def __init__(self, db: Database, control: TaskControl, dead_letters: DeadLetters,
                 sweeper: Sweeper, *, budget_ceiling: float = 0.0):
        self.db = db
        self.budget_ceiling = budget_ceiling
        self.control = control
        self.dead_letters = dead_letters
        self.sweeper = sweeper

    def tasks(self, *, station_id: str | None = None, status: int | None = None,
              type_: int | None = None, name: str | None = None,
              limit: int = 50) -> list[Task]:
        return self.db.run(lambda cur: task_repo.list_any_station(
            cur, station_id=station_id, status=status, type_=type_, name=name, limit=limit))

    def task(self, task_id: int) -> Task:
        task = self.db.run(lambda cur: task_repo.get_any_station(cur, task_id))
        if task is None:
            raise NotFound(texts.TASK_ID_NOT_FOUND(task_id=task_id))
        return task

    def chunks(self, task_id: int) -> list[dict[str, Any]]:
        return self.db.run(lambda cur: chunk_repo.overview(cur, task_id))

    def failures(self, task_id: int, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.db.run(lambda cur: chunk_repo.failed_details(cur, task_id, limit)))

    def cancel(self, task_ids: Sequence[int]) -> CancelReport:
        """Cancel tasks of any stations: one TaskControl.cancel per station involved."""
        by_station: dict[str, list[int]] = {}
        for task_id in dict.fromkeys(task_ids):
            by_station.setdefault(self.task(task_id).station_id, []).append(task_id)
        report = CancelReport()
        for station_id, ids in by_station.items():
            one = self.control.cancel(station_id, task_ids=ids)
            report.cancelled += one.cancelled
            report.already_final += one.already_final
        return report

    def retry(self, task_id: int) -> Task:
        return self.control.retry(self.task(task_id).station_id, task_id)

    def dlq_depth(self) -> int:
        return self.dead_letters.depth()

    def redrive(self, limit: int | None = None) -> RedriveReport:
        return self.dead_letters.redrive(limit)

    def sweep(self) -> SweepReport:
        return self.sweeper.sweep()

    def budget(self) -> dict[str, Any]:
        """The product center budget: the ceiling configured here and the shared row's
        current adaptive rate (None before any worker reserved from it)."""
        row = budget.current(self.db)
        return {"ceiling": self.budget_ceiling, "rate": row["rate"] if row else None,
                "reservations": row["reservations"] if row else 0,
                "last_decrease_s": row["decreased_s"] if row else None,
                "modify_time": row["modify_time"] if row else None}
