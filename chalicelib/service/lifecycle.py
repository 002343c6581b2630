"""The one writer of a task's status: start, finish, resubmit for retry.

Each function takes a task row the caller has locked (SELECT ... FOR UPDATE in its
transaction), checks the move against the table in chalicelib.domain.task, and writes it
with an UPDATE conditional on the statuses the move may come from. The UPDATE must change
exactly that one row; anything else means the row is not what the caller locked (a stale
copy), and raises StaleTask (a Conflict) so the transaction rolls back.

Nothing else writes tbl_async_task.status: task_repo.update_fields refuses the column, and
task_repo.move_status is called from here only (tests/unit/test_status_writers.py).
"""
from __future__ import annotations

from typing import Any, Protocol

from pymysql.cursors import DictCursor

from chalicelib.adapters import task_repo
from chalicelib.domain.task import (RETRYABLE_STATUSES, Task, TaskStatus, check_transition,
                                    progress_percent, sources_of)
from chalicelib import texts
from chalicelib.errors import Conflict, DuplicateKey, InvalidInput


class FinishListener(Protocol):
    """What a task's end sets off (completion notifications: service/notifications.py
    FinishNotices, installed by the composition root)."""
    def fields(self, task: Any) -> dict[str, Any]: ...      # more columns of the final UPDATE
    def finished(self, cur: DictCursor, task: Any, fields: dict[str, Any]) -> None: ...


_finish_listener: FinishListener | None = None


def set_finish_listener(listener: FinishListener | None) -> None:
    global _finish_listener
    _finish_listener = listener


class StaleTask(Conflict):
    """The task row changed under the caller: its conditional status move hit no row."""


def _move(cur: DictCursor, task: Task, target: TaskStatus, fields: dict[str, Any],
          sources: tuple[int, ...]) -> None:
    if task_repo.move_status(cur, task.id, target, fields, sources) != 1:
        raise StaleTask(texts.TASK_CHANGED(task_id=task.id,
                                           sources=" or ".join(str(s) for s in sources)))


def start(cur: DictCursor, task: Task) -> bool:
    """Submitted -> running: counts a run and stamps start_time. A task already running is
    left as it is (False); any other status is an IllegalTransition."""
    check_transition(task.status, TaskStatus.RUNNING)
    if task.status == TaskStatus.RUNNING:
        return False
    _move(cur, task, TaskStatus.RUNNING, {"start_time": "now", "run_count": task.run_count + 1,
                                          "run_base_done": task.done_items},   # the ETA base
          (int(TaskStatus.SUBMITTED),))
    return True


def finish(cur: DictCursor, task: Task, target: TaskStatus, *, result: Any = None,
           reason: str | None = None) -> None:
    """Move to a final status (3, 4 or 5) with its result and reason."""
    target = TaskStatus(target)
    if not target.is_final:
        raise InvalidInput(texts.FINISH_NEEDS_FINAL(), field="status")
    check_transition(task.status, target)
    fields: dict[str, Any] = {"end_time": "now", "open_dedup_key": None}
    if target == TaskStatus.FINISHED:
        fields["progress"] = 100
    if result is not None:
        fields["result"] = result
    if reason is not None:
        fields["reason"] = reason[:1024]
    listener = _finish_listener
    extra = listener.fields(task) if listener is not None else {}
    _move(cur, task, target, {**fields, **extra}, sources_of(target))
    if listener is not None:        # same transaction: its COMMIT keeps both or neither
        listener.finished(cur, task, extra)


def resubmit(cur: DictCursor, task: Task, *, reopened_failed: int) -> None:
    """A task that ended 4/5 goes back to submitted for a retry of its reopened items:
    reason, result, end time and the cancel flag are cleared, the failed count drops by
    the reopened failures and cancelled starts from zero. With repeat=0 the task takes
    its open dedup key back (a Conflict if another unfinished task holds it)."""
    check_transition(task.status, TaskStatus.SUBMITTED)
    failed = task.failed_items - reopened_failed
    fields: dict[str, Any] = {
        "reason": "", "result": None, "end_time": None, "cancelled": 0, "cancelled_items": 0,
        "failed_items": failed,
        "progress": progress_percent(task.total_items, task.succeeded_items, failed),
    }
    if not task.repeat and task.user_task_id:
        fields["open_dedup_key"] = task.user_task_id
    try:
        _move(cur, task, TaskStatus.SUBMITTED, fields, tuple(int(s) for s in RETRYABLE_STATUSES))
    except DuplicateKey:
        raise Conflict(texts.DUPLICATE_USER_TASK()) from None
