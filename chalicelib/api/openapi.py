"""OpenAPI 3.1 description of the HTTP API, built from the same pydantic models the views
validate with (requests) and describe their answers with (chalicelib/api/responses.py),
and from the settings that bound them, so the description cannot drift from the code.

`OPERATIONS` lists every (path, method) the app serves; tests/unit/test_openapi.py checks
it against `app.routes` both ways. A new route needs an entry here (its summary, auth,
the model of its query or body and of its `data`) or CI fails.

Rules JSON Schema cannot state between two fields are in the operation's description:
an export's end on or after its start and its range at most EXPORT_MAX_RANGE_DAYS, and a
copy's two shops differing (both refused with 40001 naming the rule).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any, Optional

from pydantic import BaseModel

from chalicelib.api import responses as out
from chalicelib.api.internal_views import ACTIONS
from chalicelib.api.schemas import (ImportPreviewBody, ImportTemplateQuery, InternalAdd,
                                    InternalFinish, InternalRef, InternalUpdate,
                                    TaskFailuresQuery, TaskGetQuery, TaskIdsBody, TaskListQuery,
                                    TaskRetryBody)
from chalicelib.api.docs_views import ASSET_NAMES as DOCS_ASSET_NAMES
from chalicelib.api.ui_views import ASSET_NAMES
from chalicelib import texts
from chalicelib.config import Settings, get_settings
from chalicelib.errors import (CallbackAddressRefused, CallbackHostNotAllowed, CallbackNotHttps,
                               Conflict, Forbidden, InvalidInput, MalformedBody, NotFound,
                               PlatformError, TooLarge, Unauthenticated, Unavailable,
                               UnsupportedMediaType)
from chalicelib.kinds import KINDS
from chalicelib.kinds.base import CALLBACK_ERRORS
from chalicelib.service.order_import import OrderRow

BEARER, INTERNAL_KEY, NO_AUTH = "bearer", "internal_key", None

# code -> (HTTP status, meaning in Chinese with the English): the app's codes of the
# catalogue (chalicelib/texts.py), from which docs/errors.md's table is generated too.
ERROR_CODES: dict[int, tuple[int, str]] = {
    code: (entry.status, entry.text) for code, entry in texts.APP_CODES.items()}
# The error classes of chalicelib/errors.py, each with its code above.
ERROR_CLASSES: tuple[type[PlatformError], ...] = (
    InvalidInput, MalformedBody, Unauthenticated, Forbidden, NotFound, Conflict, TooLarge,
    UnsupportedMediaType, PlatformError, Unavailable, CallbackNotHttps, CallbackHostNotAllowed,
    CallbackAddressRefused)

@dataclass(frozen=True)
class Operation:
    summary: str
    auth: Optional[str]
    query: Optional[type[BaseModel]] = None
    body: Optional[type[BaseModel]] = None
    data: Any = None                     # model of `data`, a tuple of them (oneOf), or None
    errors: tuple[int, ...] = ()         # codes beyond the ones its auth and input give
    description: str = ""
    path_enum: tuple[str, ...] = ()      # allowed values of the {…} path segment
    raw: str = ""                        # not the envelope: the media type it answers
    redirect: bool = False               # may answer 302
    etag: bool = False                   # ETag on 200, If-None-Match -> 304 (api/conditional.py)


_INTERNAL_SUMMARY = {
    "add": ("Create a task for a station (the seed's task/add).", InternalAdd,
            out.InternalTaskItem, CALLBACK_ERRORS),
    "get": ("One task of a station.", InternalRef, out.TaskItem, ()),
    "start": ("Mark a submitted task running (1 → 2).", InternalRef, out.TaskItem, (40900,)),
    "finish": ("End a task with status 3, 4 or 5, a result and a reason.", InternalFinish,
               out.TaskItem, (40900,)),
    "update": ("Set a task's progress, result, reason or status (a legal transition).",
               InternalUpdate, out.TaskItem, (40900,)),
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/openapi.json", "GET"): Operation("This document.", NO_AUTH, raw="application/json"),
    ("/task/get", "GET"): Operation(
        "One task of the caller's station, by task_id or user_task_id (exactly one; the "
        "newest task with that user_task_id).", BEARER, query=TaskGetQuery, data=out.TaskItem,
        errors=(40400,), etag=True),
    ("/task/list", "GET"): Operation(
        "The caller's shown tasks, newest first, optionally filtered by type and status and "
        "searched by q; paged by cursor (next_cursor), with the filter's total.",
        BEARER, query=TaskListQuery, data=out.TaskList, etag=True),
    ("/task/failures", "GET"): Operation(
        "A task's failed items (seq, item, reason), in seq order, paged by cursor; the "
        "task must be the caller station's (else 404).", BEARER, query=TaskFailuresQuery,
        data=out.TaskFailures, errors=(40400,)),
    ("/task/clear_show", "POST"): Operation(
        "Hide tasks from the list (all the ids must exist for the caller's station).", BEARER,
        body=TaskIdsBody, errors=(40400,)),
    ("/task/cancel", "POST"): Operation(
        "Cancel unfinished tasks: workers stop at their next batch; the task ends 4 or 5 with"
        " cancelled=true and a reason starting \"已取消\". Tasks already ended are listed"
        " in already_final.", BEARER, body=TaskIdsBody, data=out.CancelReport,
        errors=(40400,)),
    ("/task/retry", "POST"): Operation(
        "Run a task that ended 4 or 5 again over its failed and cancelled items only;"
        " run_count grows.", BEARER, body=TaskRetryBody, data=out.RetryAnswer,
        errors=(40400, 40900),
        description="409 when the task ended 3, is not final, or has nothing to re-run."),
    **{(f"/internal/task/{action}", "POST"): Operation(
        f"Worker-side task API: {summary}", INTERNAL_KEY, body=model, data=data,
        errors=(40400, *errors)) for action, (summary, model, data, errors)
       in _INTERNAL_SUMMARY.items()},
    # The import page (chalicelib/api/import_views.py, docs/imports.md "Spreadsheets").
    ("/station/order/batch/preview", "POST"): Operation(
        "Read an uploaded .xlsx or .csv into order_data and check every order as the import"
        " worker will: the first rows, each bad order's reason, and the order_data to submit"
        " to /station/order/batch/submit. Nothing is stored.", BEARER,
        body=ImportPreviewBody, data=out.ImportPreview, errors=(41300,), description=(
            "The content must be a spreadsheet: an .xlsx workbook, or a CSV in UTF-8 or"
            " GB18030, whose first row names at least the template's required columns, with"
            " at least one row below it; otherwise 400 (40001) with the reason (.xls, not a"
            " spreadsheet, no rows, missing columns). Over {import_file_max_mb:g} MB, more"
            " than {order_import_max_rows} orders, or orders over 5 MB of JSON: 413.")),
    ("/station/order/batch/template", "GET"): Operation(
        "The import template: a file whose header is the batch submit's order row and line"
        " fields, with example orders (the .xlsx explains each column on a second sheet).",
        BEARER, query=ImportTemplateQuery, data=out.ImportTemplate),
    ("/station/time_config/list", "GET"): Operation(
        "The caller's station's operation cycles (运营周期): the time_config_id values an"
        " import or an export by operation cycle takes.", BEARER, data=out.TimeConfigList),
    # The task center page: static files, not API operations, but described (and fuzzed)
    # like every route so the spec and the routes stay one set.
    ("/ui", "GET"): Operation(
        "The task center page (HTML); /ui redirects to ui/, which serves it.", NO_AUTH,
        raw="text/html", redirect=True),
    ("/ui/{asset}", "GET"): Operation(
        "A file of the task center page; only the listed names exist.", NO_AUTH,
        path_enum=ASSET_NAMES, errors=(40400,), raw="text/*"),
    ("/docs", "GET"): Operation(
        "This description as a page for frontend developers (Swagger UI).", NO_AUTH,
        raw="text/html"),
    ("/docs/{asset}", "GET"): Operation(
        "A file of the /docs page (Swagger UI's, pinned); only the listed names exist.",
        NO_AUTH, path_enum=DOCS_ASSET_NAMES, errors=(40400,), raw="text/*"),
}
assert {p.rsplit("/", 1)[1] for p, _ in OPERATIONS if p.startswith("/internal/")} == set(ACTIONS)

# What each task kind's route answers and the rules JSON Schema cannot state between two of
# its fields (chalicelib/kinds declares the route, its request model and its errors).
ANY_DATA = object()                     # `data` not described (any JSON value)
KIND_DOCS: dict[str, tuple[Any, str]] = {
    "/station/product/copy_task": (out.CopyCreated, (
        "source_shop_id and target_shop_id must differ (40001). A shop of another station,"
        " or a filter matching no product of the source shop, is 404.")),
    "/station/order/batch/submit": (out.ImportCreated, (
        "Bad rows are reported by row number (docs/imports.md). An operation cycle"
        " (time_config_id) not of the caller's station is 404.")),
    "/station/sales_analysis/orderdetail": ((out.ExportLink, out.ExportTask), (
        "The end (end_date, cycle_end_time) must not be before the start, and the range may"
        " span at most {export_max_range_days} days (40001). An operation cycle not of the"
        " caller's station is 404.")),
}
OPERATIONS.update({
    (k.path, k.method): Operation(k.summary, BEARER, errors=k.errors,
                                  data=KIND_DOCS.get(k.path, (ANY_DATA, ""))[0],
                                  description=KIND_DOCS.get(k.path, (ANY_DATA, ""))[1],
                                  **{"query" if k.in_query else "body": k.request_model})
    for k in KINDS})     # a kind without KIND_DOCS is described too (its data unspecified)


def _codes(op: Operation) -> list[int]:
    codes = set(op.errors) | {50000, 50300}
    if op.auth == BEARER:
        codes |= {40100, 40300}
    elif op.auth == INTERNAL_KEY:
        codes.add(40300)
    if op.query or op.body:
        codes.add(40001)
    if op.body:
        codes |= {40002, 41500}
    return sorted(codes)


def _hoist(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    components.update(schema.pop("$defs", {}))
    return schema


def _model_ref(model: type[BaseModel], components: dict[str, Any], *,
               mode: str = "validation") -> dict[str, Any]:
    """The model's schema in components (its nested definitions hoisted), as a $ref."""
    if model.__name__ not in components:
        schema = (model.model_json_schema(mode="validation",
                                          ref_template="#/components/schemas/{model}")
                  if mode == "validation" else out.schema_of(model))
        components[model.__name__] = _hoist(schema, components)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _non_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query value is text or absent, never null: the Optional's non-null branch."""
    branches = [b for b in prop.get("anyOf", ()) if b.get("type") != "null"]
    field = dict(branches[0]) if len(branches) == 1 and "anyOf" in prop else {
        k: v for k, v in prop.items() if k != "anyOf"}
    for key in ("description", "default"):
        if key in prop and key not in field and prop[key] is not None:
            field[key] = prop[key]
    field.pop("title", None)
    return field


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    """Query strings are text converted by the model. A model with a oneOf between its
    parameters is one exploded object parameter (OpenAPI's way of stating rules between
    query parameters); the others are one parameter per field."""
    schema = _hoist(model.model_json_schema(mode="validation",
                                            ref_template="#/components/schemas/{model}"),
                    components)
    props = {name: _non_null(prop) for name, prop in schema.get("properties", {}).items()}
    required = list(schema.get("required", ()))
    if "oneOf" in schema:
        obj = {"type": "object", "properties": props, "oneOf": schema["oneOf"]}
        if required:
            obj["required"] = required
        if schema.get("description"):
            obj["description"] = schema["description"]
        param = {"name": "params", "in": "query", "required": True, "style": "form",
                 "explode": True, "schema": obj}
        if schema.get("examples"):
            param["example"] = schema["examples"][0]
        return [param]
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in props.items()]


def _data_schema(data: Any, components: dict[str, Any]) -> dict[str, Any]:
    if data is ANY_DATA:
        return {}
    if data is None:
        return {"type": "null"}
    if isinstance(data, tuple):
        return {"oneOf": [_model_ref(m, components, mode="serialization") for m in data]}
    return _model_ref(data, components, mode="serialization")


def _error_responses(codes: list[int]) -> dict[str, Any]:
    by_status: dict[int, list[int]] = {}
    for code in codes:
        by_status.setdefault(ERROR_CODES[code][0], []).append(code)
    return {str(status): {
        "description": "; ".join(f"{c}: {ERROR_CODES[c][1]}" for c in cs),
        "content": {"application/json": {"schema": {
            "allOf": [{"$ref": "#/components/schemas/Error"},
                      {"properties": {"code": {"enum": cs}}}]},
            "example": {"code": cs[0], "msg": ERROR_CODES[cs[0]][1], "data": None}}}}
        for status, cs in sorted(by_status.items())}


TAGS = {"/task/": "tasks", "/station/": "task kinds", "/internal/": "internal (workers)"}


def _tag(path: str) -> str:
    return next((tag for prefix, tag in TAGS.items() if path.startswith(prefix)), "pages")


def _operation(path: str, method: str, op: Operation, components: dict[str, Any],
               settings: Settings) -> dict[str, Any]:
    out_: dict[str, Any] = {"summary": op.summary, "tags": [_tag(path)],
                            "operationId": f"{method.lower()}{path.replace('/', '_')}"
                            .replace("{", "").replace("}", "").replace(".", "_")}
    if op.description:
        out_["description"] = op.description.format(**vars(settings))
    params: list[dict[str, Any]] = []
    if op.path_enum:
        name = path[path.index("{") + 1:path.index("}")]
        params.append({"name": name, "in": "path", "required": True,
                       "schema": {"type": "string", "enum": list(op.path_enum)}})
    if op.query:
        params += _query_parameters(op.query, components)
    if op.etag:
        params.append({"name": "If-None-Match", "in": "header", "required": False,
                       "description": "the ETag of an earlier answer: 304 while unchanged",
                       "schema": {"type": "string"}})
    if params:
        out_["parameters"] = params
    if op.body:
        out_["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _model_ref(op.body, components)}}}
    if op.raw:
        responses: dict[str, Any] = {"200": {"description": "OK", "content": {op.raw: {
            "schema": {"type": "object"} if op.raw == "application/json"
            else {"type": "string"}}}}}
    else:
        envelope = {"type": "object", "required": ["code", "msg", "data"],
                    "properties": {"code": {"type": "integer", "const": 0},
                                   "msg": {"type": "string", "const": ""},
                                   "data": _data_schema(op.data, components)}}
        responses = {"200": {"description": "OK: code 0, the result in data",
                             "content": {"application/json": {"schema": envelope}}}}
    if op.redirect:
        responses["302"] = {"description": "redirect to the page (Location: ui/)"}
    if op.etag:
        etag = {"ETag": {"required": True, "description": "weak validator of the answer, "
                         "scoped to the station", "schema": {"type": "string",
                                                             "pattern": '^W/"[0-9a-f]{32}"$'}}}
        responses["200"]["headers"] = etag
        responses["304"] = {"description": "Not Modified: If-None-Match names the current "
                                           "ETag; no body", "headers": etag}
    responses.update(_error_responses(_codes(op)))
    out_["responses"] = responses
    out_["security"] = ([{"bearerAuth": []}] if op.auth == BEARER else
                        [{"internalKey": []}] if op.auth == INTERNAL_KEY else [])
    return out_


def _apply_settings(components: dict[str, Any], settings: Settings) -> None:
    """Bounds that are settings, not constants of the models."""
    def prop(model: str, name: str) -> dict[str, Any]:
        p = components[model]["properties"][name]
        return next((b for b in p.get("anyOf", ()) if b.get("type") == "array"), p)
    prop("CopyTaskRequest", "product_ids")["maxItems"] = settings.max_copy_items
    prop("OrderBatchSubmit", "order_data")["maxItems"] = settings.order_import_max_rows
    max_bytes = int(settings.import_file_max_mb * 1024 * 1024)
    prop("ImportPreviewBody", "content_base64")["maxLength"] = (max_bytes + 2) // 3 * 4


@functools.lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    settings = get_settings()
    components: dict[str, Any] = {
        "Error": {"type": "object", "required": ["code", "msg", "data"],
                  "properties": {"code": {"type": "integer", "enum": sorted(ERROR_CODES)},
                                 "msg": {"type": "string", "minLength": 1, "description": (
                                     "in Chinese, with the English in parentheses; a refused"
                                     " request's first problem and how many there are")},
                                 "data": {"oneOf": [
                                     {"type": "null"},
                                     {"$ref": "#/components/schemas/Problems"}]}}},
        "Problems": {"type": "object", "required": ["errors"], "description": (
            "a refused request (400/413): every problem found, in the request's order"),
            "properties": {"errors": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["field", "reason"], "properties": {
                    "field": {"type": "string", "description": (
                        "the field's path in the request's notation (order_data[3].lines[0]"
                        ".sku, a query parameter's name); \"\" for the request as a whole")},
                    "reason": {"type": "string", "minLength": 1, "description": (
                        "what is wrong, in Chinese with the English in parentheses")}}}}}},
    }
    _model_ref(OrderRow, components)        # described in order_data's text; the row format
    paths: dict[str, Any] = {}
    for (path, method), op in OPERATIONS.items():
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, op, components,
                                                                settings)
    _apply_settings(components, settings)
    limit = paths["/task/list"]["get"]["parameters"]
    for p in limit:
        if p["name"] == "limit":
            p["schema"].update(maximum=settings.list_max_limit,
                               description=f"default {settings.list_default_limit}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "async-task platform", "version": "1",
                 "description": "Every JSON response is {code, msg, data}; code 0 is success, "
                                "errors carry a non-zero code (docs/errors.md), a msg in Chinese "
                                "with the English in parentheses, and data null or, for a "
                                "refused request, {errors: [{field, reason}]} listing every "
                                "problem. "
                                "A method a path does not declare is 405 (code 40500) with an "
                                "Allow header from the local runtime, 404 (40400) from API "
                                "Gateway; an unknown path is 404 (40400). The page /docs "
                                "shows this description."},
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
