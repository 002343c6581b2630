"""schemathesis hooks (schemathesis.toml names this file): the rules between two fields that
JSON Schema cannot state, and that the operations' descriptions state in words.

Positive cases are valid by the schema; these few are made valid by these rules too, by
the smallest change (the end moved to the start, the target shop to the next id). Negative
cases are left alone. The rules come from the code (chalicelib), not copies of it.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.generation import GenerationMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.config import get_settings  # noqa: E402
from chalicelib.fields import MAX_BIGINT  # noqa: E402
from chalicelib.service.export_query import QUERY_TYPE_FIELDS  # noqa: E402
from chalicelib.service.import_template import template_csv  # noqa: E402

def _parse(text: Any) -> dt.datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(str(text), fmt)
        except ValueError:
            continue
    return None


def _export_range(query: dict[str, Any]) -> None:
    params = query.get("params") if isinstance(query.get("params"), dict) else query
    query_type = params.get("query_type")      # the coverage phase may send it as text
    fields = QUERY_TYPE_FIELDS.get(int(query_type) if str(query_type).isdigit() else query_type)
    if not fields:
        return
    start_name, end_name = fields[-2:]
    start, end = _parse(params.get(start_name)), _parse(params.get(end_name))
    if start is None or end is None:
        return
    days = get_settings().export_max_range_days
    too_long = ((end - start).days + 1 > days if start_name == "start_date"
                else end - start > dt.timedelta(days=days))
    if end < start or too_long:
        params[end_name] = params[start_name]


def _distinct_shops(body: dict[str, Any]) -> None:
    source = body.get("source_shop_id")
    if isinstance(source, (int, float)) and body.get("target_shop_id") == source:
        body["target_shop_id"] = int(source) + 1 if source < MAX_BIGINT - 1 else int(source) - 1


def _spreadsheet(body: dict[str, Any]) -> None:
    """A preview's content must be a spreadsheet (JSON Schema can only say base64): the
    template's CSV, under the generated name made a .csv."""
    import base64
    body["content_base64"] = base64.b64encode(template_csv(dt.date(2026, 12, 2))).decode()
    name = body.get("file_name")
    if isinstance(name, str):
        body["file_name"] = name[:250] + ".csv"


def _no_callback(case: Any) -> None:
    """A callback_url must also name a host on the stage's allow-list that resolves to a
    public address (docs/notifications.md): a rule of the stage, not of the schema. Positive
    cases leave it out; negative ones keep what they generated."""
    for part in (case.query, case.body):
        if isinstance(part, dict):
            part.pop("callback_url", None)
            if isinstance(part.get("params"), dict):
                part["params"].pop("callback_url", None)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    return _positive(context, case)


@schemathesis.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    """The examples phase takes the description's own examples, which map_case does not see
    (schemathesis 4.32: generation/hypothesis/builder.py); they are positive cases too."""
    for case in examples:
        _positive(context, case)


def _positive(context: Any, case: Any) -> Any:
    _no_callback(case)
    path = context.operation.path if context.operation else ""
    if path == "/station/sales_analysis/orderdetail" and isinstance(case.query, dict):
        _export_range(case.query)
    elif path == "/station/product/copy_task" and isinstance(case.body, dict):
        _distinct_shops(case.body)
    elif path == "/station/order/batch/preview" and isinstance(case.body, dict):
        _spreadsheet(case.body)
    return case
