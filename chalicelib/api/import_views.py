"""The import page's endpoints (docs/imports.md "Spreadsheets"): read an uploaded
spreadsheet into order_data with each order's problems (nothing is stored), the template
file, and the station's operation cycles to import into. All station-scoped by the token.
"""
from __future__ import annotations

import base64
from typing import Any

from chalicelib.adapters import order_repo
from chalicelib.api.auth import station_of
from chalicelib.api.http import json_body, parse_model
from chalicelib.api.schemas import ImportPreviewBody, ImportTemplateQuery
from chalicelib.bootstrap import Services
from chalicelib.service.import_file import Limits, decode_upload, preview_file
from chalicelib.service.order_import import LOCAL_TIME

TEMPLATE_NAME = "订单导入模板"
CONTENT_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "csv": "text/csv; charset=utf-8"}


def limits(svc: Services) -> Limits:
    return Limits(max_file_bytes=int(svc.settings.import_file_max_mb * 1024 * 1024),
                  max_orders=svc.settings.order_import_max_rows)


def preview(request: Any, svc: Services) -> dict[str, Any]:
    station_of(request)                       # the page's user; the file is not stored
    body = parse_model(ImportPreviewBody, json_body(request.raw_body))
    data = decode_upload(body.content_base64, limits(svc))
    return preview_file(body.file_name, data, limits(svc))


def template(request: Any, svc: Services) -> dict[str, Any]:
    import datetime as dt

    from chalicelib.service.import_template import template_csv, template_xlsx
    station_of(request)
    q = parse_model(ImportTemplateQuery, request.query_params or {})
    today = dt.datetime.now(LOCAL_TIME).date()
    data = template_xlsx(today) if q.format == "xlsx" else template_csv(today)
    return {"file_name": f"{TEMPLATE_NAME}.{q.format}", "content_type": CONTENT_TYPES[q.format],
            "content_base64": base64.b64encode(data).decode()}


def time_configs(request: Any, svc: Services) -> dict[str, Any]:
    station = station_of(request)
    rows = svc.db.run(lambda cur: order_repo.time_configs(cur, station))
    return {"time_configs": [{"time_config_id": r["id"], "name": r["name"],
                              "cycle_start": r["cycle_start"]} for r in rows]}
