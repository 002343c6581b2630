"""Reading an uploaded order spreadsheet (chalicelib/service/import_file.py) and the
template (import_template.py): columns, grouping of rows into orders, cell values, the
refusals, and the template read back by the same reader."""
from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile

import pytest
import xlsxwriter

from chalicelib.errors import InvalidInput, TooLarge
from chalicelib.service.import_file import (COLUMNS, Limits, decode_upload, preview_file)
from chalicelib.service.import_template import template_csv, template_xlsx

LIMITS = Limits(max_file_bytes=1024 * 1024, max_orders=100)
TODAY = dt.date(2026, 12, 2)
HEAD = ",".join(COLUMNS)


def csv_file(*rows: str, head: str = HEAD, encoding: str = "utf-8") -> bytes:
    return "\r\n".join([head, *rows]).encode(encoding)


def xlsx_file(rows: list[list[object]]) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet()
    date_format = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, dt.datetime):
                ws.write_datetime(r, c, value, date_format)
            elif value is not None:
                ws.write(r, c, value)
    wb.close()
    return buf.getvalue()


def test_the_templates_header_is_exactly_the_submit_fields_and_their_examples_import():
    # the csv holds the text "7.90"; the xlsx the number 7.9
    for data, name, price in ((template_csv(TODAY), "t.csv", "7.90"),
                              (template_xlsx(TODAY), "t.xlsx", "7.9")):
        got = preview_file(name, data, LIMITS)
        assert got["columns"] == list(COLUMNS) and got["ignored_columns"] == []
        assert (got["order_count"], got["valid"], got["invalid"]) == (2, 2, 0), got["problems"]
        first = got["order_data"][0]
        assert first["source_rows"] == "2-3" and len(first["lines"]) == 2
        assert first["order_time"] == "2026-12-02 09:30:00"
        assert first["lines"][0] == {"sku": "SKU-0006", "name": "红富士苹果", "unit": "斤",
                                     "quantity": "2.5", "unit_price": price}


def test_bad_rows_get_each_problem_with_their_sheet_rows_in_chinese_and_english():
    data = csv_file(
        "张三,,,,2026-12-01 09:00:00,2026-12-02 08:00:00,,A,苹果,斤,2,3.5",
        ",,,,,,,B,香蕉,斤,0,2",                       # a second line of order 1: quantity 0
        "李四,,,,,tomorrow,,C,梨,斤,1,1",                 # order 2: bad receive_time
        ",,,,2026-12-01 10:00:00,,,,,,,",               # order 3: no name, no line
        "王五,,,,,2026-12-02 08:00:00,,D,橙,斤,一,1")    # order 4: quantity not a number
    got = preview_file("订单.csv", data, LIMITS)
    assert (got["order_count"], got["valid"], got["invalid"]) == (4, 0, 4)
    reasons = {p["rows"]: p["reason"] for p in got["problems"]}
    assert reasons["2-3"] == "第 1 条订单（表格第 2-3 行）：lines[1].quantity 必须大于 0（must be > 0）"
    assert "receive_time 格式须为 YYYY-MM-DD HH:MM:SS（must be 'YYYY-MM-DD HH:MM:SS'）" in reasons["4"]
    assert "customer_name 必填（is required）" in reasons["5"]
    assert "receive_time 必填（is required）" in reasons["5"]
    assert "lines 至少 1 项（must have at least 1 item(s)）" in reasons["5"]
    assert "lines[0].quantity 必须是数字（must be a number）" in reasons["6"]
    assert [(r["row"], r["order"]) for r in got["preview"]] == [(2, 1), (3, 1), (4, 2), (5, 3),
                                                                 (6, 4)]
    assert got["preview"][1]["cells"]["quantity"] == "0"


def test_xlsx_cells_numbers_dates_and_codes():
    rows = [list(COLUMNS) + ["备注2"],
            ["张三", 1001, None, None, dt.datetime(2026, 12, 1, 19, 30),
             dt.datetime(2026, 12, 2, 8, 0), None, 20031, "苹果", "斤", 2.5, 6.8, "x"],
            [None] * 13,                                                   # blank: skipped
            [None] * 7 + ["S2", "鸡蛋", "盒", 1, 12]]
    got = preview_file("a.xlsx", xlsx_file(rows), LIMITS)
    assert got["ignored_columns"] == ["备注2"] and got["sheet_rows"] == 2
    order = got["order_data"][0]
    assert order == {"customer_name": "张三", "customer_id": "1001",
                     "order_time": "2026-12-01 19:30:00", "receive_time": "2026-12-02 08:00:00",
                     "source_rows": "2-4", "lines": [
                         {"sku": "20031", "name": "苹果", "unit": "斤", "quantity": "2.5",
                          "unit_price": "6.8"},
                         {"sku": "S2", "name": "鸡蛋", "unit": "盒", "quantity": 1,
                          "unit_price": 12}]}
    assert got["invalid"] == 0


def test_a_gbk_csv_from_excel_in_china_is_read():
    data = csv_file("张三,,,,,2026-12-02 08:00:00,,A,苹果,斤,1,1", encoding="gb18030")
    assert preview_file("a.csv", data, LIMITS)["order_data"][0]["customer_name"] == "张三"


@pytest.mark.parametrize("name, data, text", [
    ("a.xlsx", b"PK\x03\x04 not really a zip", "不是有效的 .xlsx"),
    ("a.xlsx", b"just text", "不是有效的 .xlsx"),
    ("a.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "不是表格"),
    ("a.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "不支持旧版 .xls"),
    ("a.csv", HEAD.encode(), "没有订单行"),
    ("a.csv", b"\r\n\r\n", "没有表头"),
    ("a.csv", b"name,price\r\n1,2", "表头缺少列：customer_name, receive_time, sku, quantity"),
    ("a.csv", (HEAD + ",sku\r\nx").encode(), "列 sku 出现了两次"),
])
def test_files_that_are_not_order_spreadsheets_are_refused_with_a_reason(name, data, text):
    with pytest.raises(InvalidInput) as err:
        preview_file(name, data, LIMITS)
    assert text in err.value.msg and err.value.http_status == 400
    assert "（" in err.value.msg                     # the English in parentheses


def test_a_zip_that_is_not_a_workbook_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    with pytest.raises(InvalidInput, match="没有工作簿"):
        preview_file("a.xlsx", buf.getvalue(), LIMITS)


def test_a_zip_bomb_is_refused_before_any_xml_is_parsed():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/sharedStrings.xml", b"\x20" * (65 * 1024 * 1024))
    assert len(buf.getvalue()) < 200_000
    with pytest.raises(TooLarge, match="解压后过大"):
        preview_file("a.xlsx", buf.getvalue(), LIMITS)


def test_too_large_too_many_orders_and_bad_base64():
    with pytest.raises(TooLarge, match="文件超过 1 MB"):
        decode_upload(base64.b64encode(b"x" * (1024 * 1024 + 1)).decode(), LIMITS)
    with pytest.raises(InvalidInput, match="base64"):
        decode_upload("abc!", LIMITS)
    many = csv_file(*[f"客户{n},,,,,2026-12-02 08:00:00,,A,苹果,斤,1,1" for n in range(101)])
    with pytest.raises(TooLarge, match="订单超过 100 条"):
        preview_file("a.csv", many, LIMITS)
    assert decode_upload(base64.b64encode(b"a,b").decode(), LIMITS) == b"a,b"
