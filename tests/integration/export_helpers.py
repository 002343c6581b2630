"""Export helpers shared by the export tests: requests, files on S3, their rows."""
from __future__ import annotations

import csv
import datetime as dt
import io
import urllib.request
from typing import Any

import openpyxl

from chalicelib.bootstrap import services
from chalicelib.service.export_formats import DETAIL_COLUMNS
from infra.local.seed_orders import Line, add_order, ensure_time_configs, seed_orders

URL = "/station/sales_analysis/orderdetail"
D = dt.datetime
HEADERS = [h for h, _ in DETAIL_COLUMNS]


def known_orders() -> dict[str, Any]:
    """Three orders of s001 and one of s002, with values each test can predict."""
    db = services().db
    ensure_time_configs(db, "s001")
    ensure_time_configs(db, "s002")
    add_order(db, "s001", "SO-A1", order_time=D(2026, 3, 1, 10), receive_time=D(2026, 3, 2, 8),
              time_config_id="s001-tc1", cycle_start=D(2026, 2, 28, 18), customer_name="张伟",
              area="朝阳区", status=1, lines=[Line("SKU-1", "有机西红柿", "2", "4.50"),
                                             Line("SKU-2", "鸡蛋", "1", "15.80", unit="盒")])
    add_order(db, "s001", "SO-B2", order_time=D(2026, 3, 5, 9), receive_time=D(2026, 3, 10, 8),
              time_config_id="s001-tc2", cycle_start=D(2026, 3, 4, 20), customer_name="李娜",
              address="北京市海淀区中关村大街5号", area="海淀区", status=2,
              lines=[Line("SKU-3", "香蕉", "3", "4.30")])
    add_order(db, "s001", "SO-C3", order_time=D(2026, 3, 10, 23), receive_time=D(2026, 3, 11, 8),
              time_config_id="s001-tc1", cycle_start=D(2026, 3, 10, 18), customer_name="王芳",
              area="朝阳区", status=4,
              lines=[Line("SKU-4", '土豆, "精选"', "1.5", "2.10"),
                     Line("SKU-5", "A&B <特价>", "1", "9.90"),
                     Line("SKU-6", " 前后空格 ", "2", "1.00")])
    add_order(db, "s002", "SO-X9", order_time=D(2026, 3, 3, 12), receive_time=D(2026, 3, 4, 8),
              time_config_id="s002-tc1", cycle_start=D(2026, 3, 2, 18), customer_name="张伟",
              area="朝阳区", status=1, lines=[Line("SKU-9", "菠菜", "1", "4.00")])
    return {}


def export(api: Any, token: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return api.get(URL, {k: v for k, v in params.items() if v is not None}, token=token)


def download(link: str) -> bytes:
    with urllib.request.urlopen(link, timeout=10) as resp:
        return resp.read()


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_rows(data: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [list(r) for sheet in book.worksheets for r in sheet.iter_rows(values_only=True)]


def sync_file(api: Any, token: str, **params: Any) -> bytes:
    status, resp = export(api, token, **params)
    assert status == 200 and resp["code"] == 0, resp
    assert resp["data"]["async"] == 0 and "task_url" not in resp["data"]
    return download(resp["data"]["link"])


def order_nos(rows: list[list[Any]]) -> list[str]:
    return [r[0] for r in rows[1:]]


def exported_keys(prefix: str = "exports/") -> list[str]:
    files = services().files
    resp = files.s3.list_objects_v2(Bucket=files.bucket, Prefix=prefix)
    return [o["Key"] for o in resp.get("Contents", [])]


def seeded_orders(n_orders: int, station: str = "s001") -> dict[str, str]:
    seed_orders(services().db, station, n_orders * 5, until=D(2026, 4, 1, 12), days=1)
    return {"start_date": "2026-03-31", "end_date": "2026-04-01"}
