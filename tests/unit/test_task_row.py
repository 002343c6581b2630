"""The typed Task: built from a tbl_async_task row by adapters/task_repo.py, immutable, and
shown to clients byte for byte as the dict rows were (the literals below were produced by
the dict-based present.task_item before Task existed)."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from chalicelib.adapters import task_repo
from chalicelib.api import present
from chalicelib.api.http import envelope
from chalicelib.domain.task import Task, TaskStatus, TaskType


class Files:
    def link(self, key: str) -> str:
        return f"https://s3.example/{key}?sig"


def _row(**over: object) -> dict:
    row = {"id": 7, "station_id": "s001", "user_task_id": None, "name": "product_copy",
           "business_name": "商品复制", "status": 4, "reason": "共 2 项，失败 1 项，详见错误报告",
           "progress": 100, "type": 2,
           "result": '{"total": 2, "succeeded": 1, "failed": 1,'
                     ' "error_report_key": "reports/s001/7/errors-run1.csv"}',
           "run_count": 1, "cancelled": 0, "total_items": 2, "succeeded_items": 1,
           "failed_items": 1, "cancelled_items": 0, "creat_time": dt.datetime(2026, 11, 28, 8),
           "start_time": dt.datetime(2026, 11, 28, 8, 0, 1, 250000), "end_time": None,
           "repeat": 0, "message_show": 1, "modify_time": dt.datetime(2026, 11, 28, 8, 0, 2),
           "business_id": 0, "run_base_done": 0, "callback_url": None, "notified_at": None,
           "notify_attempts": 0, "notify_last_error": None}
    row.update(over)
    return row


FINISHED_WITH_REPORT = (
    '{"code":0,"msg":"","data":{"task_id":7,"user_task_id":"","task_name":"product_copy",'
    '"business_name":"商品复制","status":4,"reason":"共 2 项，失败 1 项，详见错误报告","progress":100,'
    '"type":2,"result":{"total":2,"succeeded":1,"failed":1,"error_report_url":'
    '"https://s3.example/reports/s001/7/errors-run1.csv?sig"},"run_count":1,"cancelled":false,'
    '"counts":{"total":2,"succeeded":1,"failed":1,"cancelled":0},'
    '"create_time":"2026-11-28T16:00:00+08:00","start_time":"2026-11-28T16:00:01+08:00",'
    '"end_time":null,"eta_seconds":null,'
    '"callback_url":null,"notified_at":null,"notify_attempts":0,"notify_last_error":null}}')
SUBMITTED_CANCELLED = (
    '{"code":0,"msg":"","data":{"task_id":8,"user_task_id":"u-8","task_name":"order_export",'
    '"business_name":"","status":1,"reason":"","progress":0,"type":1,"result":null,'
    '"run_count":0,"cancelled":true,"counts":{"total":0,"succeeded":0,"failed":0,"cancelled":0},'
    '"create_time":"2026-11-29T07:59:59+08:00","start_time":null,"end_time":null,'
    '"eta_seconds":null,'
    '"callback_url":null,"notified_at":null,"notify_attempts":0,"notify_last_error":null}}')
RUNNING_WITH_ETA = (
    '{"code":0,"msg":"","data":{"task_id":9,"user_task_id":"u9","task_name":"product_copy",'
    '"business_name":"商品复制","status":2,"reason":"","progress":40,"type":2,"result":null,'
    '"run_count":2,"cancelled":false,"counts":{"total":100,"succeeded":40,"failed":0,'
    '"cancelled":0},"create_time":"2026-11-28T16:00:00+08:00",'
    '"start_time":"2026-11-28T16:00:00+08:00","end_time":null,"eta_seconds":30,'
    '"callback_url":null,"notified_at":null,"notify_attempts":0,"notify_last_error":null}}')
NOW = dt.datetime(2026, 11, 28, 8, 0, 10)


@pytest.mark.parametrize("row, body", [
    (_row(), FINISHED_WITH_REPORT),
    (_row(id=8, station_id="s002", user_task_id="u-8", name="order_export", business_name="",
          status=1, reason="", progress=0, type=1, result=None, run_count=0, cancelled=1,
          total_items=0, succeeded_items=0, failed_items=0,
          creat_time=dt.datetime(2026, 11, 28, 23, 59, 59, 999000), start_time=None,
          repeat=1, message_show=0, business_id=3), SUBMITTED_CANCELLED),
    (_row(id=9, user_task_id="u9", status=2, reason="", progress=40, result=None,
          run_count=2, total_items=100, succeeded_items=40, failed_items=0,
          start_time=dt.datetime(2026, 11, 28, 8), run_base_done=20), RUNNING_WITH_ETA),
])
def test_a_task_is_shown_byte_for_byte_as_the_row_was(row, body):
    task = task_repo.from_row(row)
    item = present.task_item(task, Files(), present.eta_seconds(task, NOW))
    assert envelope(item).body == body


def test_from_row_types_the_columns():
    task = task_repo.from_row(_row())
    assert task.status is TaskStatus.PARTIAL and task.type is TaskType.PROCESS
    assert task.result["error_report_key"] == "reports/s001/7/errors-run1.csv"
    assert task.repeat is False and task.message_show is True and task.cancelled is False
    assert task.is_final and task.done_items == 2


def test_a_task_is_immutable_and_not_a_mapping():
    task = task_repo.from_row(_row())
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.status = TaskStatus.RUNNING          # type: ignore[misc]
    with pytest.raises(TypeError):
        task["status"]                            # type: ignore[index]


def test_as_row_gives_the_stored_values_back():
    row = _row()
    task = task_repo.from_row(row)
    plain = task.as_row()
    assert plain == {**row, "result": task.result}
    assert type(plain["status"]) is int and type(plain["cancelled"]) is int
    assert Task(**{**plain, "status": TaskStatus(plain["status"]),
                   "type": TaskType(plain["type"])}).as_row() == plain
