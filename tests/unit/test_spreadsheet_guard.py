"""The formula guard (CSV injection): the error report CSV gets the same guard as the order
export (one owner: chalicelib/adapters/spreadsheet_guard.py)."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from chalicelib.adapters import order_repo
from chalicelib.service.finalize import error_report_csv

DANGEROUS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("reason", DANGEROUS)
def test_error_report_reason_cannot_start_a_formula(reason):
    rows = _cells(error_report_csv([{"seq": 0, "item_id": 7, "reason": reason}]))
    assert rows[1][2] == "'" + reason


def test_error_report_keeps_ordinary_text():
    rows = _cells(error_report_csv([{"seq": 3, "item_id": 9, "reason": "商品不存在 (422)"}]))
    assert rows[1] == ["3", "9", "商品不存在 (422)"]


def test_the_export_query_uses_the_same_guard():
    from chalicelib.adapters import spreadsheet_guard
    sql, _ = order_repo.export_query(
        order_repo.OrderFilter(station_id="s001", range_column="order_time",
                               lo=dt.datetime(2026, 1, 1), hi=dt.datetime(2026, 1, 2)),
        ["customer_name"], style="csv")
    assert spreadsheet_guard.sql_guard("o.customer_name") in sql
    for ch in spreadsheet_guard.FORMULA_START:
        assert str(ord(ch)) in spreadsheet_guard.sql_guard("x")
