"""Internal task API for worker-side processes (the seed's task/add|start|finish|update|get).

Guarded by the shared `auth_key` (header X-Auth-Key), compared in constant time. These
callers act for a station they name, so the station is a body field here.
"""
from __future__ import annotations

from typing import Any

from chalicelib.api.auth import check_internal_key
from chalicelib.api.http import json_body, parse_model
from chalicelib.api.present import task_item
from chalicelib.api.schemas import InternalAdd, InternalFinish, InternalRef, InternalUpdate
from chalicelib.bootstrap import Services
from chalicelib.service.task_files import check_result
from chalicelib.service.tasks import NewTask


def _authorized_body(request: Any, svc: Services) -> Any:
    check_internal_key((request.headers or {}).get("x-auth-key"), svc.settings.internal_auth_key)
    return json_body(request.raw_body)


def dispatch(action: str, request: Any, svc: Services) -> dict[str, Any]:
    raw = _authorized_body(request, svc)
    if action == "add":
        b = parse_model(InternalAdd, raw)
        if b.callback_url:
            svc.callbacks.check(b.callback_url)
        created = svc.tasks.create(NewTask(
            station_id=b.station_id, name=b.name, type=int(b.type), input=b.input,
            user_task_id=b.user_task_id, repeat=b.repeat, message_show=b.message_show,
            business_id=b.business_id, business_name=b.business_name,
            callback_url=b.callback_url))
        return {**task_item(created.task, svc.files), "created": created.created}
    if action == "get":
        ref = parse_model(InternalRef, raw)
        return task_item(svc.tasks.get(ref.station_id, task_id=ref.task_id), svc.files)
    if action == "start":
        ref = parse_model(InternalRef, raw)
        return task_item(svc.tasks.start(ref.station_id, ref.task_id), svc.files)
    if action == "finish":
        f = parse_model(InternalFinish, raw)
        check_result(f.station_id, f.task_id, f.result, svc.settings.result_max_bytes)
        return task_item(svc.tasks.finish(f.station_id, f.task_id, status=f.status,
                                          result=f.result, reason=f.reason), svc.files)
    u = parse_model(InternalUpdate, raw)   # action == "update"
    check_result(u.station_id, u.task_id, u.result, svc.settings.result_max_bytes)
    return task_item(svc.tasks.update(u.station_id, u.task_id, result=u.result,
                                      status=u.status, progress=u.progress, reason=u.reason),
                     svc.files)


ACTIONS = ("add", "get", "start", "finish", "update")
