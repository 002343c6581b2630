"""The error report of a task with failed items (service/finalize.py error_report_csv):
a UTF-8 CSV with a BOM, one row per failed detail (the formula guard is in
test_spreadsheet_guard.py)."""
from __future__ import annotations

import csv
import io

from chalicelib.service.finalize import error_report_csv


def test_error_report_is_a_utf8_csv_with_a_bom_and_quoted_reasons():
    data = error_report_csv([{"seq": 0, "item_id": 11, "reason": "商品不存在"},
                             {"seq": 5, "item_id": 16, "reason": 'bad, "quoted"\nline'}])
    assert data.startswith("\ufeff".encode("utf-8"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [["seq", "item_id", "reason"], ["0", "11", "商品不存在"],
                    ["5", "16", 'bad, "quoted"\nline']]


def test_an_empty_error_report_has_its_header():
    assert error_report_csv([]).decode("utf-8-sig").splitlines() == ["seq,item_id,reason"]
