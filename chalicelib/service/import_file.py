"""An uploaded order spreadsheet (.xlsx or .csv) read into the batch submit's `order_data`,
with the problems of each order found before anything is submitted (the import page's
preview, POST /station/order/batch/preview; docs/imports.md "Spreadsheets").

The sheet: a header row of field names (COLUMNS, exactly the names of the submit's order
row and line fields), then one row per order line. A row whose order columns are all empty
is another line of the order above it; a row with any order column filled starts a new
order. Each order keeps `source_rows` ("3" or "3-5"), so its reason — here and in the task's
error report later — names the rows of the file.

Files are read on the server with openpyxl (read-only, values only) and the csv module,
with bounds first: the file's size, its unzipped size (a zip bomb stops before any XML is
parsed), the sheet's rows and the orders' JSON size (what one submit can carry). A file
that is not a spreadsheet, too large, or holds no order rows is refused with a reason and
nothing else happens. openpyxl is imported only here, on the first preview.
"""
from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Iterator, Optional

from pydantic import ValidationError

from chalicelib import texts
from chalicelib.errors import InvalidInput, TooLarge
from chalicelib.service.import_reasons import row_reason
from chalicelib.service.order_import import OrderRow

ORDER_COLUMNS = ("customer_name", "customer_id", "address", "area", "order_time",
                 "receive_time", "remark")
LINE_COLUMNS = ("sku", "name", "unit", "quantity", "unit_price")
COLUMNS = ORDER_COLUMNS + LINE_COLUMNS
REQUIRED_COLUMNS = ("customer_name", "receive_time", "sku", "name", "quantity", "unit_price")
NUMBER_COLUMNS = ("quantity", "unit_price")
PREVIEW_ROWS = 20
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024     # an xlsx whose parts unzip larger is refused unread
MAX_ORDER_DATA_BYTES = 5 * 1024 * 1024    # one submit's order_data (Lambda takes 6 MB bodies)
_XLSX_MAGIC, _OLE_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_orders: int                 # ORDER_IMPORT_MAX_ROWS

    @property
    def max_sheet_rows(self) -> int:
        return self.max_orders * 10


def refuse(text: texts.Text, **params: Any) -> InvalidInput:
    return InvalidInput(text(**params))


def decode_upload(content_base64: str, limits: Limits) -> bytes:
    # base64 is 4/3 of the file: a body too large to be a file under the limit is refused
    # before decoding it
    if len(content_base64) > (limits.max_file_bytes + 2) // 3 * 4:
        raise _too_large(limits)
    try:
        data = base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise refuse(texts.FILE_NOT_BASE64) from None
    if len(data) > limits.max_file_bytes:
        raise _too_large(limits)
    if not data:
        raise refuse(texts.FILE_EMPTY)
    return data


def _too_large(limits: Limits) -> TooLarge:
    mb = limits.max_file_bytes / 1024 / 1024
    return TooLarge(texts.FILE_TOO_LARGE(mb=mb))


# -- reading ----------------------------------------------------------------------------
def sheet_rows(file_name: str, data: bytes, limits: Limits) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cell values) of the file's first sheet, blank rows included."""
    if data.startswith(_XLSX_MAGIC):
        return _xlsx_rows(data)
    if data.startswith(_OLE_MAGIC):
        raise refuse(texts.FILE_XLS)
    if file_name.lower().endswith(".xlsx"):
        raise refuse(texts.FILE_NOT_XLSX)
    return _csv_rows(data)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise refuse(texts.FILE_NOT_XLSX) from None
    if "xl/workbook.xml" not in names:
        raise refuse(texts.FILE_NO_WORKBOOK)
    if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
        raise TooLarge(texts.FILE_UNZIPS_TOO_LARGE(mb=MAX_UNZIPPED_BYTES // 1024 // 1024))
    import openpyxl                      # only the preview needs it (cold starts stay fast)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:                    # openpyxl raises many kinds for a broken file
        raise refuse(texts.FILE_NOT_XLSX) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            ws = wb.worksheets[0]
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                yield number, list(values)
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile):
            raise refuse(texts.FILE_UNREADABLE) from None
        finally:
            wb.close()
    return rows()


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    if b"\x00" in data[:4096]:
        raise refuse(texts.FILE_NOT_SPREADSHEET)
    text: Optional[str] = None
    for encoding in ("utf-8-sig", "gb18030"):   # Excel in China saves CSV as GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None or "\x00" in text:
        raise refuse(texts.FILE_NOT_SPREADSHEET)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            for values in reader:
                yield reader.line_num, values
        except csv.Error as err:
            raise refuse(texts.FILE_BAD_CSV, error=err) from None
    return rows()


# -- cells ------------------------------------------------------------------------------
def cell_value(column: str, value: Any) -> Any:
    """A cell as the submit's JSON takes it; None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.microsecond >= 500_000:            # Excel's float times: 19:29:59.9999
            value += dt.timedelta(seconds=1)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer() and abs(value) < 2 ** 53:
            value = int(value)
        else:
            text = format(Decimal(repr(value)).normalize(), "f")
            return text
    if isinstance(value, int):
        return value if column in NUMBER_COLUMNS else str(value)
    return str(value)


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


# -- orders -----------------------------------------------------------------------------
def _header(values: list[Any]) -> tuple[dict[int, str], list[str]]:
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for index, raw in enumerate(values):
        name = _shown(raw).strip().lower()
        if not name:
            continue
        if name in COLUMNS:
            if name in columns.values():
                raise refuse(texts.COLUMN_TWICE, name=name)
            columns[index] = name
        else:
            ignored.append(_shown(raw).strip())
    missing = [c for c in REQUIRED_COLUMNS if c not in columns.values()]
    if missing:
        raise refuse(texts.COLUMNS_MISSING, columns=", ".join(missing))
    return columns, ignored


def _range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def read_orders(rows: Iterable[tuple[int, list[Any]]], limits: Limits) -> dict[str, Any]:
    """Group the sheet's rows into orders; the header is its first non-blank row."""
    columns: Optional[dict[int, str]] = None
    ignored: list[str] = []
    orders: list[dict[str, Any]] = []
    spans: list[list[int]] = []          # first and last sheet row of each order
    preview: list[dict[str, Any]] = []
    count = 0
    for number, values in rows:
        if not any(_shown(v).strip() for v in values):
            continue
        if columns is None:
            columns, ignored = _header(values)
            continue
        count += 1
        if count > limits.max_sheet_rows:
            raise TooLarge(texts.SHEET_TOO_MANY_ROWS(limit=limits.max_sheet_rows))
        cells = {name: cell_value(name, values[i] if i < len(values) else None)
                 for i, name in columns.items()}
        order_part = {k: v for k, v in cells.items() if k in ORDER_COLUMNS and v is not None}
        line = {k: v for k, v in cells.items() if k in LINE_COLUMNS and v is not None}
        if order_part or not orders:
            if len(orders) >= limits.max_orders:
                raise TooLarge(texts.SHEET_TOO_MANY_ORDERS(limit=limits.max_orders))
            orders.append({**order_part, "lines": []})
            spans.append([number, number])
        if line:
            orders[-1]["lines"].append(line)
        spans[-1][1] = number
        if len(preview) < PREVIEW_ROWS:
            preview.append({"row": number, "order": len(orders),
                            "cells": {name: _shown(cells.get(name)) for name in COLUMNS}})
    if columns is None:
        raise refuse(texts.SHEET_NO_HEADER)
    if not orders:
        raise refuse(texts.SHEET_NO_ROWS)
    for order, (first, last) in zip(orders, spans):
        order["source_rows"] = _range(first, last)
    return {"columns": [columns[i] for i in sorted(columns)], "ignored_columns": ignored,
            "sheet_rows": count, "orders": orders, "preview": preview}


def preview_file(file_name: str, data: bytes, limits: Limits) -> dict[str, Any]:
    """What the import page shows before submitting, and the order_data it submits."""
    read = read_orders(sheet_rows(file_name, data, limits), limits)
    orders = read.pop("orders")
    if len(json.dumps(orders, ensure_ascii=False)) > MAX_ORDER_DATA_BYTES:
        raise TooLarge(texts.ORDERS_TOO_LARGE())
    problems = []
    for number, order in enumerate(orders, start=1):
        try:
            OrderRow.model_validate(order)
        except ValidationError as err:
            problems.append({"order": number, "rows": order["source_rows"],
                             "reason": row_reason(number, err, order)})
    return {"file_name": file_name, **read, "order_count": len(orders),
            "valid": len(orders) - len(problems), "invalid": len(problems),
            "problems": problems, "order_data": orders}
