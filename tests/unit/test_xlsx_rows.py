"""RowStreamWorksheet's fast rows read back exactly like rows written through XlsxWriter's API."""
from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest
import xlsxwriter

from chalicelib.adapters.xlsx_rows import SEPARATOR, RowStreamWorksheet

NUMERIC = [False, False, True, True]
ROWS = [
    ["SO-1", "有机西红柿", "2.00", "4.50"],
    ["SO-2", "A&B <特价>", "1", "9.90"],             # XML specials: the careful path
    ["SO-3", " 前后空格 ", "3.5", "0.10"],            # leading/trailing space: preserved
    ["SO-4", "控制\x07字符", "1", "1"],               # control character: Excel's _x0007_
    ["SO-5", "literal _x0041_ text", "1", "1"],     # a literal escape is escaped
    ["SO-6", "全角\u3000空格\u3000", "1", "2"],       # unicode whitespace at the end
    ["SO-7", "tab\tand\nnewline", "12345678.25", "-3"],
]


def _book(rows_writer) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                     "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("s", worksheet_class=RowStreamWorksheet)
    sheet.set_row_layout(NUMERIC)
    sheet.write_row(0, 0, ["a", "b", "c", "d"], book.add_format({"bold": True}))
    rows_writer(sheet)
    book.close()
    return out.getvalue()


def _read(data: bytes) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["s"]
    return list(sheet.iter_rows(values_only=True))


def _public(sheet: RowStreamWorksheet) -> None:
    for r, row in enumerate(ROWS, 1):
        for c, (value, numeric) in enumerate(zip(row, NUMERIC)):
            if numeric:
                sheet.write_number(r, c, float(value))
            else:
                sheet.write_string(r, c, value)


def _fast(sheet: RowStreamWorksheet) -> None:
    for r, row in enumerate(ROWS, 1):
        sheet.write_text_row(r, SEPARATOR.join(row))


def test_fast_rows_read_back_like_the_public_api():
    expected = _read(_book(_public))
    assert expected[0] == ("a", "b", "c", "d") and expected[2][1] == "A&B <特价>"
    assert _read(_book(_fast)) == expected


def test_plain_rows_take_the_fast_path_and_make_the_same_xml():
    plain = [r for r in ROWS[:1]]

    def sheet_xml(data: bytes) -> str:
        return zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    fast = sheet_xml(_book(lambda s: s.write_text_row(1, SEPARATOR.join(plain[0]))))
    assert '<row r="2"><c r="A2" t="inlineStr"><is><t>SO-1</t></is></c>' in fast
    assert '<c r="C2"><v>2.00</v></c>' in fast
    assert '<dimension ref="A1:D2"/>' in fast


def test_a_row_with_the_wrong_number_of_fields_is_refused():
    with pytest.raises(ValueError, match="3 fields, expected 4"):
        _book(lambda s: s.write_text_row(1, SEPARATOR.join(["a", "b", "1"])))
