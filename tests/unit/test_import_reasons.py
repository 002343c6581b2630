"""The reason a bad import row fails with (service/import_reasons.py): row, field path
and problem, in Chinese with the English in parentheses."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.service.import_reasons import row_reason
from chalicelib.service.order_import import OrderRow


def reason_of(row: dict, row_no: int = 7) -> str:
    with pytest.raises(ValidationError) as err:
        OrderRow.model_validate(row)
    return row_reason(row_no, err.value)


GOOD_LINE = {"sku": "A", "name": "苹果", "quantity": "1", "unit_price": "2.00"}


def test_row_reason_names_the_row_the_field_and_the_problem():
    assert reason_of({"receive_time": "2026-03-01 08:00:00", "lines": [GOOD_LINE]}) == (
        "第 7 行：customer_name 必填（is required）")
    assert reason_of({"customer_name": "张三", "receive_time": "tomorrow",
                      "lines": [GOOD_LINE]}, 3) == (
        "第 3 行：receive_time 格式须为 YYYY-MM-DD HH:MM:SS（must be 'YYYY-MM-DD HH:MM:SS'）")


def test_row_reason_points_into_lines_and_joins_several_problems():
    reason = reason_of({"customer_name": "张三", "receive_time": "2026-03-01 08:00:00",
                        "lines": [GOOD_LINE, {**GOOD_LINE, "quantity": "0", "sku": ""}]})
    assert reason.startswith("第 7 行：")
    assert "lines[1].quantity 必须大于 0（must be > 0）" in reason
    assert "lines[1].sku 至少 1 个字符（must have at least 1 character(s)）" in reason
    assert "；" in reason


def test_row_reason_of_a_whole_row_check_has_no_field():
    reason = reason_of({"customer_name": "张三", "receive_time": "2026-03-01 08:00:00",
                        "order_time": "2026-03-02 08:00:00", "lines": [GOOD_LINE]})
    assert reason == "第 7 行：receive_time 早于 order_time（receive_time is before order_time）"


def test_row_reason_of_an_uploaded_order_names_its_spreadsheet_rows():
    with pytest.raises(ValidationError) as err:
        OrderRow.model_validate({"source_rows": "3-5", "receive_time": "2026-03-01 08:00:00",
                                 "lines": [GOOD_LINE]})
    assert row_reason(2, err.value, {"source_rows": "3-5"}) == (
        "第 2 条订单（表格第 3-5 行）：customer_name 必填（is required）")
    # a hint that is not a row range is not repeated into the reason
    assert row_reason(2, err.value, {"source_rows": "<b>"}).startswith("第 2 行：")
