"""OpenAPI 3.1 description of the HTTP API, built from the same pydantic models the views
validate with, so the spec cannot drift from what the code accepts.

`OPERATIONS` lists every (path, method) the app serves; tests/unit/test_openapi.py checks
it against `app.routes` both ways. A new route needs an entry here (its summary, auth,
and the model of its query or body) or CI fails.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Optional

from pydantic import BaseModel

from chalicelib.api.internal_views import ACTIONS
from chalicelib.api.schemas import (InternalAdd, InternalFinish, InternalRef, InternalUpdate,
                                    TaskGetQuery, TaskIdsBody, TaskListQuery, TaskRetryBody)
from chalicelib.api.ui_views import ASSET_NAMES
from chalicelib.kinds import KINDS

BEARER, INTERNAL_KEY, NO_AUTH = "bearer", "internal_key", None

# code -> (HTTP status, meaning); mirrors docs/errors.md.
ERROR_CODES: dict[int, tuple[int, str]] = {
    40001: (400, "a parameter or body field is missing, of the wrong type or out of range"),
    40002: (400, "the body is not valid JSON"),
    40100: (401, "missing, malformed, forged or expired credential"),
    40300: (403, "the credential does not allow this"),
    40400: (404, "no such task/shop for the caller's station, or no such route"),
    40500: (405, "method not allowed on this route"),
    40900: (409, "the task's status forbids the operation"),
    41300: (413, "too many items"),
    50000: (500, "unexpected server error"),
    50300: (503, "a dependency (the database) is unavailable"),
}


@dataclass(frozen=True)
class Operation:
    summary: str
    auth: Optional[str]
    query: Optional[type[BaseModel]] = None
    body: Optional[type[BaseModel]] = None
    body_one_of: tuple[type[BaseModel], ...] = ()   # path-parameter dispatch (internal API)
    path_enum: tuple[str, ...] = ()                 # allowed values of the {…} path segment
    errors: tuple[int, ...] = ()                    # codes beyond the ones every route has
    raw_data: bool = False                          # the response is not the envelope
    media_type: str = ""                            # a non-JSON response (the page's files)


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/openapi.json", "GET"): Operation("This document.", NO_AUTH, raw_data=True),
    ("/task/get", "GET"): Operation(
        "One task of the caller's station, by task_id or user_task_id (exactly one).",
        BEARER, query=TaskGetQuery, errors=(40400,)),
    ("/task/list", "GET"): Operation(
        "The caller's tasks, newest first, optionally filtered by type and status.",
        BEARER, query=TaskListQuery),
    ("/task/clear_show", "POST"): Operation(
        "Hide finished tasks from the message list.", BEARER, body=TaskIdsBody,
        errors=(40002, 41300)),
    ("/task/cancel", "POST"): Operation(
        "Cancel unfinished tasks: workers stop at their next batch; the task ends 4 or 5 with"
        " cancelled=true and a reason starting \"已取消\". Tasks already ended are listed"
        " in already_final.", BEARER, body=TaskIdsBody, errors=(40002, 40400, 41300)),
    ("/task/retry", "POST"): Operation(
        "Run a task that ended 4 or 5 again over its failed and cancelled items only;"
        " run_count grows.", BEARER, body=TaskRetryBody, errors=(40002, 40400, 40900)),
    ("/internal/task/{action}", "POST"): Operation(
        "Worker-side task API: add, get, start, finish or update a task of a named station.",
        INTERNAL_KEY, body_one_of=(InternalAdd, InternalRef, InternalFinish, InternalUpdate),
        path_enum=ACTIONS, errors=(40002, 40300, 40400, 40900)),
    # The task center page: static files, not API operations, but described (and fuzzed)
    # like every route so the spec and the routes stay one set.
    ("/ui", "GET"): Operation(
        "The task center page (HTML); /ui redirects to ui/, which serves it.", NO_AUTH,
        media_type="text/html"),
    ("/ui/{asset}", "GET"): Operation(
        "A file of the task center page; only the listed names exist.", NO_AUTH,
        path_enum=ASSET_NAMES, errors=(40400,), media_type="text/*"),
}

# Each registered task kind's route (chalicelib/kinds): its request model is its query or body.
OPERATIONS.update({
    (k.path, k.method): Operation(k.summary, BEARER, errors=k.errors,
                                  **{"query" if k.in_query else "body": k.request_model})
    for k in KINDS})

_COMMON_ERRORS = (40001, 40100, 50000, 50300)


def _model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The model's input schema, its nested definitions hoisted into components."""
    schema = model.model_json_schema(mode="validation",
                                     ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    """Query strings are text converted by pydantic (lax mode); an absent parameter is the
    Optional's None, so only the non-null branch of each field is described."""
    schema = model.model_json_schema(mode="validation",
                                     ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        branches = [b for b in prop.get("anyOf", ()) if b.get("type") != "null"]
        field = branches[0] if len(branches) == 1 else {
            k: v for k, v in prop.items() if k not in ("default", "title")}
        params.append({"name": name, "in": "query", "required": name in required,
                       "schema": field})
    return params


def _error_responses(codes: tuple[int, ...]) -> dict[str, Any]:
    by_status: dict[int, list[int]] = {}
    for code in sorted(set(codes) | set(_COMMON_ERRORS)):
        by_status.setdefault(ERROR_CODES[code][0], []).append(code)
    return {str(status): {
        "description": "; ".join(f"{c}: {ERROR_CODES[c][1]}" for c in cs),
        "content": {"application/json": {"schema": {
            "allOf": [{"$ref": "#/components/schemas/Error"},
                      {"properties": {"code": {"enum": cs}}}]}}}}
        for status, cs in by_status.items()}


def _operation(path: str, method: str, op: Operation,
               components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary,
                           "operationId": f"{method.lower()}{path.replace('/', '_')}"
                           .replace("{", "").replace("}", "")}
    params: list[dict[str, Any]] = []
    if op.path_enum:
        name = path[path.index("{") + 1:path.index("}")]
        params.append({"name": name, "in": "path", "required": True,
                       "schema": {"type": "string", "enum": list(op.path_enum)}})
    if op.query:
        params += _query_parameters(op.query, components)
    if params:
        out["parameters"] = params
    if op.body or op.body_one_of:
        schema = (_model_schema(op.body, components) if op.body else
                  {"oneOf": [_model_schema(m, components) for m in op.body_one_of]})
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": schema}}}
    if op.raw_data or op.media_type:
        out["responses"] = {"200": {"description": "OK",
                                    "content": {op.media_type or "application/json": {
                                        "schema": {"type": "string" if op.media_type
                                                   else "object"}}}}}
        if op.errors:
            out["responses"].update(_error_responses(op.errors))
        out["security"] = []
        return out
    out["security"] = [{"bearerAuth": []}] if op.auth == BEARER else [{"internalKey": []}]
    out["responses"] = {"200": {"description": "OK: code 0, the result in data",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/Envelope"}}}},
                        **_error_responses(op.errors)}
    return out


@functools.lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    components: dict[str, Any] = {
        "Envelope": {"type": "object", "required": ["code", "msg", "data"],
                     "properties": {"code": {"type": "integer", "const": 0},
                                    "msg": {"type": "string"}, "data": {}}},
        "Error": {"type": "object", "required": ["code", "msg"],
                  "properties": {"code": {"type": "integer", "enum": sorted(ERROR_CODES)},
                                 "msg": {"type": "string"},
                                 "data": {"type": "null"}}},
    }
    paths: dict[str, Any] = {}
    for (path, method), op in OPERATIONS.items():
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, op, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "async-task platform", "version": "1",
                 "description": "Every JSON response is {code, msg, data}; code 0 is success, "
                                "errors carry a non-zero code (docs/errors.md) and data null."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "station token (HS256), checked by the "
                                              "station_auth authorizer"},
                "internalKey": {"type": "apiKey", "in": "header", "name": "X-Auth-Key",
                                "description": "shared key of worker-side processes"}},
        },
    }
