"""How a task row is shown to clients: the seed's task item plus counts and links.

S3 keys stored in `result` are never shown; each becomes a presigned link that expires.
"""
from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import FileStore

# result key holding an S3 key -> result key holding its expiring link
_LINKED_KEYS = {"error_report_key": "error_report_url", "file_key": "link"}


def _iso(value: Any) -> str | None:
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else None


def task_item(task: dict[str, Any], files: FileStore) -> dict[str, Any]:
    result = task.get("result")
    if isinstance(result, dict):
        result = dict(result)
        for key_field, link_field in _LINKED_KEYS.items():
            key = result.pop(key_field, None)
            if key:
                result[link_field] = files.link(key)
    return {
        "task_id": task["id"],
        "user_task_id": task["user_task_id"] or "",
        "task_name": task["name"],
        "business_name": task["business_name"],
        "status": task["status"],
        "reason": task["reason"],
        "progress": task["progress"],
        "type": task["type"],
        "result": result,
        "run_count": task["run_count"],
        "cancelled": bool(task["cancelled"]),
        "counts": {"total": task["total_items"], "succeeded": task["succeeded_items"],
                   "failed": task["failed_items"], "cancelled": task["cancelled_items"]},
        "create_time": _iso(task["creat_time"]),
        "start_time": _iso(task["start_time"]),
        "end_time": _iso(task["end_time"]),
    }


def task_url(task_id: int) -> str:
    """Where the frontend polls a task."""
    return f"/task/get?task_id={task_id}"
