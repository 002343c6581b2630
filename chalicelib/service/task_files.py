"""Which S3 objects belong to a task: the only keys the platform signs links for.

A task's files live under `exports/<station>/<task>/` (an export's file) and
`reports/<station>/<task>/` (a copy's error reports). `result` may name them in
`file_key` / `error_report_key`; the task item shows each as an expiring link. The internal
API lets worker-side processes write `result`, so a key there is only accepted (and only
ever signed) when it lies under the task's own prefixes; anything else would make the
platform sign links to any object in the bucket for whoever can read the task.
"""
from __future__ import annotations

import json
import re
from typing import Any

from chalicelib import texts
from chalicelib.errors import InvalidInput, TooLarge

# result field holding an S3 key -> field of the task item holding its expiring link
LINKED_KEYS = {"error_report_key": "error_report_url", "file_key": "link"}
_AREAS = ("exports", "reports")
_SAFE_STATION = re.compile(r"[A-Za-z0-9_-]{1,16}")
_SAFE_REST = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


def own_prefixes(station_id: str, task_id: int) -> tuple[str, ...]:
    return tuple(f"{area}/{station_id}/{task_id}/" for area in _AREAS)


def is_own_key(station_id: str, task_id: int, key: Any) -> bool:
    """True when `key` names an object under the task's own prefixes (no `..`, no empty
    segment; a station id with characters that could fake a prefix owns nothing)."""
    if not isinstance(key, str) or len(key) > 1024 or not _SAFE_STATION.fullmatch(station_id):
        return False
    for prefix in own_prefixes(station_id, task_id):
        if key.startswith(prefix):
            rest = key[len(prefix):]
            return bool(_SAFE_REST.fullmatch(rest)) and ".." not in rest.split("/")
    return False


def check_result(station_id: str, task_id: int, result: Any, max_bytes: int) -> None:
    """For a result written through the internal API: bounded size, only own keys."""
    if result is None:
        return
    size = len(json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > max_bytes:
        raise TooLarge(texts.RESULT_TOO_LARGE(limit=max_bytes, size=size), field="result")
    if isinstance(result, dict):
        for field in LINKED_KEYS:
            if field in result and not is_own_key(station_id, task_id, result[field]):
                raise InvalidInput(texts.RESULT_KEY_NOT_OWN(
                    prefixes=" or ".join(own_prefixes(station_id, task_id))),
                    field=f"result.{field}")
