"""The reason a bad import row fails with, in Chinese with the English in parentheses.

One text for the import page's preview (POST /station/order/batch/preview), the task's
failed details and its error report: "第 4 行：receive_time 格式须为 YYYY-MM-DD HH:MM:SS
（must be 'YYYY-MM-DD HH:MM:SS'）；lines[0].quantity 必须大于 0（must be > 0）". Every
problem pydantic finds in the row is listed, each with its field path.

An order from an uploaded spreadsheet carries `source_rows` ("3" or "3-5", set by the
preview): its reason then names the spreadsheet rows too, "第 2 条订单（表格第 3-5 行）：…",
so the error report points at the rows the user sees in the file.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from pydantic import ValidationError

# pydantic error type -> (Chinese, English); {…} from the error's ctx
_PHRASES: dict[str, tuple[str, str]] = {
    "missing": ("必填", "is required"),
    "greater_than": ("必须大于 {gt}", "must be > {gt}"),
    "greater_than_equal": ("不能小于 {ge}", "must be >= {ge}"),
    "model_type": ("必须是一个对象", "must be an object"),
    "model_attributes_type": ("必须是一个对象", "must be an object"),
    "string_type": ("必须是文本", "must be a string"),
    "list_type": ("必须是列表", "must be a list"),
    "string_too_short": ("至少 {min_length} 个字符", "must have at least {min_length} character(s)"),
    "string_too_long": ("最多 {max_length} 个字符", "must have at most {max_length} characters"),
    "too_short": ("至少 {min_length} 项", "must have at least {min_length} item(s)"),
    "too_long": ("最多 {max_length} 项", "must have at most {max_length} items"),
    "decimal_type": ("必须是数字", "must be a number"),
    "decimal_parsing": ("必须是数字", "must be a number"),
    "finite_number": ("必须是有限的数字", "must be a finite number"),
    "decimal_max_places": ("最多 {decimal_places} 位小数",
                           "must have at most {decimal_places} decimal places"),
    "decimal_max_digits": ("最多 {max_digits} 位数字", "must have at most {max_digits} digits"),
}
# English texts of the model's own checks (service/order_import.py, chalicelib/fields.py)
_KNOWN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^must be 'YYYY-MM-DD HH:MM:SS'"), "格式须为 YYYY-MM-DD HH:MM:SS"),
    (re.compile(r"^receive_time is before order_time$"), "receive_time 早于 order_time"),
    (re.compile(r"^total amount exceeds"), "订单总金额超出上限"),
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCE_ROWS = re.compile(r"^[1-9][0-9]{0,6}(-[1-9][0-9]{0,6})?$")


def zh_en(zh: str, en: str) -> str:
    return f"{zh}（{en}）"


def _where(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem_text(err: dict[str, Any]) -> str:
    phrase = _PHRASES.get(err["type"])
    if phrase is not None:
        try:
            return zh_en(*(p.format(**(err.get("ctx") or {})) for p in phrase))
        except KeyError:
            pass
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    if _CJK.search(msg):               # already in the users' language
        return msg
    msg = msg[:1].lower() + msg[1:]
    for pattern, zh in _KNOWN:
        if pattern.search(msg):
            return zh_en(zh, msg)
    return zh_en("不合法", msg)


def row_label(row_no: int, raw: Any = None) -> str:
    """第 N 行, or 第 N 条订单（表格第 a-b 行） for an order from an uploaded file."""
    source = raw.get("source_rows") if isinstance(raw, dict) else None
    if isinstance(source, str) and SOURCE_ROWS.match(source):
        return f"第 {row_no} 条订单（表格第 {source} 行）"
    return f"第 {row_no} 行"


def row_reason(row_no: int, err: ValidationError, raw: Any = None) -> str:
    parts = []
    for e in err.errors(include_url=False):
        where = _where(e.get("loc", ()))
        parts.append(f"{where} {problem_text(e)}" if where else problem_text(e))
    return f"{row_label(row_no, raw)}：" + "；".join(parts)
