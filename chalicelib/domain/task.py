"""Task states, kinds and the one table of legal status transitions.

The enum values are the wire codes of the seed contract (1 submitted ... 5 failed), so
they can be written to MySQL and JSON as they are. Nothing else in the code compares
status integers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

from chalicelib import texts
from chalicelib.errors import Conflict


class TaskStatus(IntEnum):
    SUBMITTED = 1   # 已经提交
    RUNNING = 2     # 正在执行
    FINISHED = 3    # 已经完成
    PARTIAL = 4     # 部分成功, 停止执行
    FAILED = 5      # 执行失败(全部失败), 停止执行

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


class TaskType(IntEnum):
    IMPORT = 0
    EXPORT = 1
    PROCESS = 2


FINAL_STATUSES = frozenset({TaskStatus.FINISHED, TaskStatus.PARTIAL, TaskStatus.FAILED})

# A task that ended with failed (or cancelled) items may be submitted again: /task/retry
# re-runs just those items. A task that finished cleanly (3) never moves again.
RETRYABLE_STATUSES = frozenset({TaskStatus.PARTIAL, TaskStatus.FAILED})

_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.SUBMITTED: frozenset({TaskStatus.RUNNING, TaskStatus.FAILED}),
    TaskStatus.RUNNING: frozenset({TaskStatus.RUNNING, *FINAL_STATUSES}),
    TaskStatus.FINISHED: frozenset(),
    TaskStatus.PARTIAL: frozenset({TaskStatus.SUBMITTED}),     # retry
    TaskStatus.FAILED: frozenset({TaskStatus.SUBMITTED}),      # retry
}


class IllegalTransition(Conflict):
    def __init__(self, current: TaskStatus, target: TaskStatus):
        super().__init__(texts.ILLEGAL_TRANSITION(
            current=int(current), current_zh=texts.STATUS_NAMES[int(current)],
            current_en=current.name.lower(), target=int(target),
            target_zh=texts.STATUS_NAMES[int(target)], target_en=target.name.lower()))
        self.current = current
        self.target = target


def can_move(current: TaskStatus, target: TaskStatus) -> bool:
    return target in _TRANSITIONS[current]


def check_transition(current: int, target: int) -> TaskStatus:
    """Return the target status, or raise IllegalTransition."""
    cur, tgt = TaskStatus(current), TaskStatus(target)
    if not can_move(cur, tgt):
        raise IllegalTransition(cur, tgt)
    return tgt


def sources_of(target: TaskStatus) -> tuple[int, ...]:
    """Statuses from which `target` may be reached: used to make UPDATEs conditional."""
    return tuple(int(s) for s, targets in _TRANSITIONS.items() if target in targets)


def outcome_status(total: int, succeeded: int, failed: int, cancelled: int = 0) -> TaskStatus:
    """Final status from item counts: all ok 3, some failed or cancelled 4, none ok 5."""
    if failed == 0 and cancelled == 0:
        return TaskStatus.FINISHED
    if succeeded == 0:
        return TaskStatus.FAILED
    return TaskStatus.PARTIAL


def progress_percent(total: int, succeeded: int, failed: int, cancelled: int = 0) -> int:
    """0-100 from finished items; 100 only when every item is finished."""
    if total <= 0:
        return 0
    done = succeeded + failed + cancelled
    if done >= total:
        return 100
    return min(99, done * 100 // total)


# Reasons the platform writes are read by the stations' back-office users: in Chinese.
CANCELLED_REASON = "已取消"


def outcome_reason(total: int, succeeded: int, failed: int, cancelled: int = 0) -> str:
    if cancelled:
        return (f"{CANCELLED_REASON}：共 {total} 项，成功 {succeeded} 项，失败 {failed} 项，"
                f"未执行 {cancelled} 项")
    if failed == 0:
        return ""
    return f"共 {total} 项，失败 {failed} 项，详见错误报告"


@dataclass(frozen=True, slots=True)
class Task:
    """One row of tbl_async_task as the code sees it (built by adapters/task_repo.py).

    Immutable: a status or counter changes in the database (service/lifecycle.py,
    task_repo), and the caller reads the row again. `creat_time` keeps the seed's column
    name. Times are naive UTC datetimes, as stored.
    """
    id: int
    station_id: str
    name: str
    status: TaskStatus
    type: TaskType
    user_task_id: str | None
    result: Any
    repeat: bool
    message_show: bool
    run_count: int
    creat_time: dt.datetime
    modify_time: dt.datetime
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    business_id: int
    business_name: str
    progress: int
    reason: str
    total_items: int
    succeeded_items: int
    failed_items: int
    cancelled: bool
    cancelled_items: int
    run_base_done: int      # items done when the current run started (the ETA's base)
    callback_url: str | None          # completion notifications (docs/notifications.md)
    notified_at: dt.datetime | None
    notify_attempts: int
    notify_last_error: str | None

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def done_items(self) -> int:
        """Items that finished, whatever their outcome."""
        return self.succeeded_items + self.failed_items + self.cancelled_items

    def as_row(self) -> dict[str, Any]:
        """The row as plain values, flags as the 0/1 the table stores (operator JSON)."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        for flag in ("repeat", "message_show", "cancelled"):
            row[flag] = int(row[flag])
        row["status"], row["type"] = int(self.status), int(self.type)
        return row
