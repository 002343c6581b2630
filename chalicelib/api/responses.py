"""What each route answers in `data`: the models /openapi.json describes the responses with.

The views build plain dicts (chalicelib/api/present.py and the *_views modules); these
models only describe them. schemathesis' response_schema_conformance check compares every
fuzzed answer with them, and tests/unit/test_openapi.py checks a task item against them.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

from chalicelib.domain.task import TaskStatus, TaskType

# ISO 8601 with the station's offset (chalicelib/service/station_time.py)
_TIME = {"format": "date-time",
         "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$",
         "examples": ["2026-11-28T08:00:00+08:00"]}


class _Out(BaseModel):
    pass


class Counts(_Out):
    total: int = Field(ge=0)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    cancelled: int = Field(ge=0)


class TaskItem(_Out):
    """One task as the frontend shows it (the seed's task item plus counts and links)."""
    task_id: int = Field(gt=0)
    user_task_id: str = Field(description="the caller's id, \"\" when none was given")
    task_name: str
    business_name: str
    status: TaskStatus = Field(description="1 已经提交 submitted, 2 正在执行 running, 3 已经完成 "
                                           "finished, 4 部分成功 partial success, 5 执行失败 failed")
    reason: Optional[str] = Field(description="why it ended 4 or 5 (in Chinese), or \"\"")
    progress: int = Field(ge=0, le=100)
    type: TaskType = Field(description="0 import, 1 export, 2 process")
    result: Any = Field(description=(
        "JSON written when the task ended, null before. Engine tasks: {total, succeeded, "
        "failed} (+ cancelled: true, not_run after a cancel) and error_report_url (an "
        "expiring link) when items failed; exports: link (an expiring link to the file) "
        "and rows. S3 keys are never shown."))
    run_count: int = Field(ge=0)
    cancelled: bool
    counts: Counts
    create_time: str = Field(json_schema_extra=_TIME)
    start_time: Optional[str] = Field(json_schema_extra=_TIME)
    end_time: Optional[str] = Field(json_schema_extra=_TIME)
    eta_seconds: Optional[int] = Field(ge=0, description=(
        "running tasks: seconds until the task is likely done, from the rate measured in "
        "its current run (docs/api.md); null when unknown or not running"))
    callback_url: Optional[str] = Field(description="where the item is POSTed when the task "
                                                    "ends, null when none was given")
    notified_at: Optional[str] = Field(json_schema_extra=_TIME, description=(
        "when the callback answered 2xx; null before, or when it never did"))
    notify_attempts: int = Field(ge=0, description="POSTs made to callback_url for the "
                                                   "latest end of the task")
    notify_last_error: Optional[str] = Field(description=(
        "the last failed attempt's error (HTTP status, timeout, refused address), kept "
        "after a later success; null when none failed"))


class InternalTaskItem(TaskItem):
    created: bool = Field(description="false when an unfinished task with the same station, "
                                      "name and user_task_id was returned instead (repeat=false)")


class TaskList(_Out):
    finish: bool = Field(description="true when no listed task (of that filter) is unfinished")
    tasks: list[TaskItem]
    total: int = Field(ge=0, description="shown tasks matching the filter and search")
    next_cursor: Optional[int] = Field(gt=0, description=(
        "pass as cursor for the next (older) page; null on the last page"))
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)


class ItemFailure(_Out):
    seq: int = Field(ge=0, description="the item's place in the task (0-based)")
    item_id: int = Field(description="the item: a product id (copy), a row number (import)")
    reason: str
    finish_time: str = Field(json_schema_extra=_TIME)


class TaskFailures(_Out):
    task_id: int = Field(gt=0)
    total: int = Field(ge=0, description="failed items of the task's current run")
    failures: list[ItemFailure] = Field(description="in seq order")
    next_cursor: Optional[int] = Field(ge=0, description=(
        "pass as cursor for the next page; null on the last page"))
    error_report_url: Optional[str] = Field(description=(
        "the whole list as CSV (an expiring link), once the task has ended; else null"))


class CancelReport(_Out):
    cancelled: list[int] = Field(description="task ids now cancelled (they end 4 or 5)")
    already_final: list[int] = Field(description="task ids that had ended before; unchanged")


class RetryAnswer(_Out):
    task_id: int = Field(gt=0)
    run_count: int = Field(ge=0)
    status: TaskStatus


class CopyCreated(_Out):
    task_id: int = Field(gt=0)
    task_url: str = Field(examples=["/task/get?task_id=7"])
    created: bool = Field(description="false: an unfinished task with this user_task_id "
                                      "was returned (repeat=false)")
    task: TaskItem


class ImportCreated(_Out):
    task_url: str = Field(examples=["/task/get?task_id=7"])
    task_id: int = Field(gt=0)
    created: bool


class ExportLink(_Out):
    """At most EXPORT_SYNC_THRESHOLD (20) matching orders: the file at once."""
    async_: Literal[0] = Field(alias="async")
    link: str = Field(description="expiring link to the file")


class ExportTask(_Out):
    """More orders: an export task to poll."""
    async_: Literal[1] = Field(alias="async")
    task_id: int = Field(gt=0)
    task_url: str = Field(examples=["/task/get?task_id=9"])


class PreviewRow(_Out):
    row: int = Field(ge=1, description="the row's number in the sheet (the header is a row)")
    order: int = Field(ge=1, description="the order (1-based position in order_data) it is in")
    cells: dict[str, str] = Field(description="the template's columns, as read (\"\" empty)")


class PreviewProblem(_Out):
    order: int = Field(ge=1, description="position in order_data (the task's row number)")
    rows: str = Field(description="its rows in the sheet: \"3\" or \"3-5\"")
    reason: str = Field(description="every problem of the order, in Chinese with the English"
                                    " in parentheses; the same text the task reports")


class ImportPreview(_Out):
    """The uploaded file read into order_data, each order checked as the worker will."""
    file_name: str
    columns: list[str] = Field(description="the template's columns found in the header")
    ignored_columns: list[str] = Field(description="other header cells (not imported)")
    sheet_rows: int = Field(ge=1, description="rows below the header, blank rows not counted")
    order_count: int = Field(ge=1)
    valid: int = Field(ge=0)
    invalid: int = Field(ge=0)
    problems: list[PreviewProblem]
    preview: list[PreviewRow] = Field(description="the first 20 rows below the header")
    order_data: list[Any] = Field(description=(
        "the orders (OrderRow, with source_rows) to send as /station/order/batch/submit's"
        " order_data"))


class ImportTemplate(_Out):
    file_name: str = Field(examples=["订单导入模板.xlsx"])
    content_type: str
    content_base64: str = Field(description="the file's bytes, base64")


class TimeConfig(_Out):
    time_config_id: str
    name: str
    cycle_start: str = Field(description="the daily time its cycles start, HH:MM:SS",
                             examples=["18:00:00"])


class TimeConfigList(_Out):
    time_configs: list[TimeConfig] = Field(description="the station's operation cycles (运营周期)")


def schema_of(model: Any) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization", by_alias=True,
                                   ref_template="#/components/schemas/{model}")
