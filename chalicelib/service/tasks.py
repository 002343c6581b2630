"""The seed's task service (gm_async_task): add, start, finish, get, update, list, hide.

Every status change goes through chalicelib.service.lifecycle (the one writer of a task's
status), which checks the move against chalicelib.domain.task and makes its UPDATE
conditional on the status it expects, so two writers racing cannot both win an illegal move.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pymysql.cursors import DictCursor

from chalicelib.adapters import task_repo
from chalicelib.adapters.db import Database
from chalicelib.domain.task import Task, TaskStatus, check_transition
from chalicelib import texts
from chalicelib.errors import DuplicateKey, InvalidInput, NotFound
from chalicelib.service import lifecycle

# Called inside the creating transaction with the new task id: the chunk plan of an
# engine task is stored atomically with its task.
OnCreated = Callable[[DictCursor, int], None]


@dataclass(frozen=True)
class NewTask:
    station_id: str
    name: str
    type: int
    input: Any
    user_task_id: str | None = None
    repeat: bool = False
    message_show: bool = True
    business_id: int = 0
    business_name: str = ""
    total_items: int = 0
    callback_url: str | None = None     # checked by the caller (service/callback_check.py)


@dataclass(frozen=True)
class Created:
    task: Task
    created: bool   # False: an unfinished task with the same key was returned (repeat=0)


class TaskService:
    def __init__(self, db: Database):
        self.db = db

    # -- add ---------------------------------------------------------------------------
    def create(self, new: NewTask, on_created: OnCreated | None = None) -> Created:
        input_text = new.input if isinstance(new.input, str) else json.dumps(
            new.input, ensure_ascii=False, separators=(",", ":"))

        def tx(cur: DictCursor) -> Created:
            if not new.repeat and new.user_task_id:
                existing = task_repo.find_open_duplicate(cur, new.station_id, new.name,
                                                         new.user_task_id)
                if existing:
                    return Created(existing, False)
            try:
                task_id = task_repo.insert(
                    cur, station_id=new.station_id, name=new.name, input_text=input_text,
                    type_=new.type, user_task_id=new.user_task_id, repeat=new.repeat,
                    message_show=new.message_show, business_id=new.business_id,
                    business_name=new.business_name, total_items=new.total_items,
                    callback_url=new.callback_url)
            except DuplicateKey:
                # Lost a race with an identical request: the unique key kept one task.
                existing = task_repo.find_open_duplicate(cur, new.station_id, new.name,
                                                         new.user_task_id or "", locking=True)
                if existing is None:
                    raise
                return Created(existing, False)
            if on_created is not None:
                on_created(cur, task_id)
            return Created(task_repo.get(cur, new.station_id, task_id), True)
        return self.db.run(tx)

    # -- reads -------------------------------------------------------------------------
    def get(self, station_id: str, *, task_id: int | None = None,
            user_task_id: str | None = None) -> Task:
        def tx(cur: DictCursor) -> Task | None:
            if task_id is not None:
                return task_repo.get(cur, station_id, task_id)
            return task_repo.get_by_user_task_id(cur, station_id, user_task_id or "")
        task = self.db.run(tx)
        if task is None:
            raise NotFound(texts.TASK_NOT_FOUND())
        return task

    def list(self, query: task_repo.ListQuery) -> task_repo.ListPage:
        """A page of the station's shown tasks; `busy` is true while a shown task matching
        the filter is unfinished (the API's `finish` is its negation)."""
        return self.db.run(lambda cur: task_repo.list_page(cur, query))

    # -- hide (clear_show) -------------------------------------------------------------
    def clear_show(self, station_id: str, *, task_ids: Sequence[int] = (),
                   user_task_ids: Sequence[str] = ()) -> int:
        if bool(task_ids) == bool(user_task_ids):
            raise InvalidInput(texts.EXACTLY_ONE(a="task_ids", b="user_task_ids"))
        ids, user_ids = sorted(set(task_ids)), sorted(set(user_task_ids))

        def tx(cur: DictCursor) -> int:
            found = task_repo.count_distinct_matching(cur, station_id, task_ids=ids,
                                                      user_task_ids=user_ids)
            missing = len(ids or user_ids) - found
            if missing:
                raise NotFound(texts.TASKS_NOT_FOUND(count=missing))
            return task_repo.hide(cur, station_id, task_ids=ids, user_task_ids=user_ids)
        return self.db.run(tx)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, station_id: str, task_id: int) -> Task:
        """Submitted/running -> running; counts a run and stamps start_time on the first."""
        def tx(cur: DictCursor) -> Task:
            lifecycle.start(cur, self._locked(cur, station_id, task_id))
            return task_repo.get(cur, station_id, task_id)
        return self.db.run(tx)

    def finish(self, station_id: str, task_id: int, *, status: int = TaskStatus.FINISHED,
               result: Any = None, reason: str | None = None) -> Task:
        def tx(cur: DictCursor) -> Task:
            lifecycle.finish(cur, self._locked(cur, station_id, task_id), TaskStatus(status),
                          result=result, reason=reason)
            return task_repo.get(cur, station_id, task_id)
        return self.db.run(tx)

    def update(self, station_id: str, task_id: int, *, result: Any = None,
               status: int | None = None, progress: int | None = None,
               reason: str | None = None) -> Task:
        """Partial update; a final status goes through finish()."""
        if status is not None and TaskStatus(status).is_final:
            return self.finish(station_id, task_id, status=status, result=result, reason=reason)

        def tx(cur: DictCursor) -> Task:
            task = self._locked(cur, station_id, task_id)
            if status is not None and TaskStatus(status) == TaskStatus.RUNNING:
                lifecycle.start(cur, task)
            elif status is not None:
                check_transition(task.status, TaskStatus(status))
            fields: dict[str, Any] = {}
            if result is not None:
                fields["result"] = result
            if progress is not None:
                fields["progress"] = progress
            if reason is not None:
                fields["reason"] = reason[:1024]
            if fields:
                task_repo.update_fields(cur, task_id, fields)
            return task_repo.get(cur, station_id, task_id)
        return self.db.run(tx)

    @staticmethod
    def _locked(cur: DictCursor, station_id: str, task_id: int) -> Task:
        task = task_repo.get(cur, station_id, task_id, for_update=True)
        if task is None:
            raise NotFound(texts.TASK_NOT_FOUND())
        return task
