"""Factories for rows the tests need, written through the real service layer."""
from __future__ import annotations

import itertools
from typing import Any

from chalicelib.adapters import task_repo
from chalicelib.bootstrap import services
from chalicelib.domain.task import Task, TaskStatus
from chalicelib.service.tasks import NewTask

_seq = itertools.count(1)


def make_task(*, station_id: str = "s001", name: str | None = None, type_: int = 2,
              status: int = TaskStatus.SUBMITTED, user_task_id: str | None = None,
              message_show: bool = True, repeat: bool = True) -> Task:
    svc = services().tasks
    created = svc.create(NewTask(station_id=station_id, name=name or f"job_{next(_seq)}",
                                 type=type_, input={"n": 1}, user_task_id=user_task_id,
                                 repeat=repeat, message_show=message_show))
    task = created.task
    if status != TaskStatus.SUBMITTED:
        svc.start(station_id, task.id)
        if status != TaskStatus.RUNNING:
            svc.finish(station_id, task.id, status=status)
    return svc.get(station_id, task_id=task.id)


def raw_row(task_id: int) -> Task:
    return services().db.run(lambda cur: task_repo.get_any_station(cur, task_id))
