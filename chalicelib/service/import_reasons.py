"""The reason a bad import row fails with, in Chinese with the English in parentheses.

One text for the import page's preview (POST /station/order/batch/preview), the task's
failed details and its error report: "第 4 行：receive_time 格式须为 YYYY-MM-DD HH:MM:SS
（must be 'YYYY-MM-DD HH:MM:SS'）；lines[0].quantity 必须大于 0（must be > 0）". Every
problem pydantic finds in the row is listed, each with its field path (the texts are
chalicelib/texts.py's, like every error's).

An order from an uploaded spreadsheet carries `source_rows` ("3" or "3-5", set by the
preview): its reason then names the spreadsheet rows too, "第 2 条订单（表格第 3-5 行）：…",
so the error report points at the rows the user sees in the file.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from chalicelib.texts import problems_of

SOURCE_ROWS = re.compile(r"^[1-9][0-9]{0,6}(-[1-9][0-9]{0,6})?$")


def row_label(row_no: int, raw: Any = None) -> str:
    """第 N 行, or 第 N 条订单（表格第 a-b 行） for an order from an uploaded file."""
    source = raw.get("source_rows") if isinstance(raw, dict) else None
    if isinstance(source, str) and SOURCE_ROWS.match(source):
        return f"第 {row_no} 条订单（表格第 {source} 行）"
    return f"第 {row_no} 行"


def row_reason(row_no: int, err: ValidationError, raw: Any = None) -> str:
    return f"{row_label(row_no, raw)}：" + "；".join(str(p) for p in problems_of(err))
