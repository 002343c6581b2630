"""The import page's endpoints through the app (chalicelib/api/import_views.py): preview of an
uploaded file, its order_data submitted as is and reported by sheet rows, the template, the
station's operation cycles, and the refusals as {code, msg}."""
from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from chalicelib.adapters import order_repo
from chalicelib.bootstrap import services
from chalicelib.service.import_file import COLUMNS
from chalicelib import texts
from tests.refusals import assert_refused
from tests.integration.engine_helpers import count, details, drain
from tests.integration.import_helpers import SUBMIT, TC

PREVIEW, TEMPLATE, CYCLES = ("/station/order/batch/preview", "/station/order/batch/template",
                             "/station/time_config/list")
SHEET = "\r\n".join([
    ",".join(COLUMNS),
    "张三,C1,北京市海淀区,海淀区,2026-12-01 09:00:00,2026-12-02 08:00:00,,A,苹果,斤,2,3.50",
    ",,,,,,,B,香蕉,斤,1,2",
    "李四,,,,,2026-12-02 08:00:00,,C,梨,斤,0,1",
    "王五,,,,,明天,,D,橙,斤,1,1"]).encode()


@pytest.fixture
def cycles(db_clean: None) -> None:
    def setup(cur: Any) -> None:
        order_repo.upsert_time_config(cur, "s001", TC, "18:00 截单", dt.time(18, 0))
        order_repo.upsert_time_config(cur, "s002", "s002-tc", "其他站", dt.time(20, 0))
    services().db.run(setup)


def upload(name: str, data: bytes) -> dict[str, str]:
    return {"file_name": name, "content_base64": base64.b64encode(data).decode()}


def test_a_previewed_file_submits_as_is_and_its_bad_orders_name_their_sheet_rows(
        api, station_token, cycles):
    status, resp = api.post(PREVIEW, upload("11月订单.csv", SHEET), token=station_token)
    assert status == 200 and resp["code"] == 0, resp
    got = resp["data"]
    assert (got["order_count"], got["valid"], got["invalid"], got["sheet_rows"]) == (3, 1, 2, 4)
    assert [(p["order"], p["rows"]) for p in got["problems"]] == [(2, "4"), (3, "5")]
    assert got["problems"][0]["reason"] == (
        "第 2 条订单（表格第 4 行）：lines[0].quantity 必须大于 0（must be > 0）")
    assert count("tbl_async_task") == 0 and count("tbl_order") == 0        # nothing stored

    status, resp = api.post(SUBMIT, {"task_id": "page-1", "time_config_id": TC,
                                     "file_name": "11月订单.csv",
                                     "order_data": got["order_data"]}, token=station_token)
    assert status == 200 and resp["code"] == 0, resp
    drain(services())
    _, task = api.get("/task/get", {"task_id": resp["data"]["task_id"]}, token=station_token)
    assert task["data"]["status"] == 4 and task["data"]["counts"]["succeeded"] == 1
    reasons = [d["reason"] for d in details(resp["data"]["task_id"]) if d["outcome"] == 2]
    assert reasons == [p["reason"] for p in got["problems"]]   # the page said it before


def test_refused_files_answer_code_and_msg_and_store_nothing(api, station_token, cycles):
    # the file's own refusals (data null), then the body's fields (data.errors)
    cases = [(upload("a.csv", b"\x89PNG\r\n\x1a\n\x00\x00"), texts.FILE_NOT_SPREADSHEET(), ()),
             (upload("a.csv", ",".join(COLUMNS).encode()), texts.SHEET_NO_ROWS(), ()),
             (upload("a.xlsx", b"not a workbook"), texts.FILE_NOT_XLSX(), ()),
             (upload("a.pdf", b"abc"), None, ("file_name",)),
             ({"file_name": "a.csv", "content_base64": "!!!!"}, None, ("content_base64",))]
    for body, text, fields in cases:
        status, resp = api.post(PREVIEW, body, token=station_token)
        assert status == 400
        assert_refused(resp, 40001, *fields)
        assert resp["msg"] == text if text else resp["data"]["errors"]
    big = {"file_name": "big.csv", "content_base64": "QUFB" * (4 * 1024 * 1024 // 3 + 1)}
    status, resp = api.post(PREVIEW, big, token=station_token)
    assert status == 413 and resp["msg"] == texts.FILE_TOO_LARGE(mb=4)
    assert_refused(resp, 41300)
    status, resp = api.post(PREVIEW, upload("a.csv", SHEET))                # no token
    assert status == 401
    assert count("tbl_async_task") == 0


def test_the_template_downloads_in_both_formats_and_reads_back(api, station_token):
    for fmt, magic in (("xlsx", b"PK\x03\x04"), ("csv", "\ufeff".encode())):
        status, resp = api.get(TEMPLATE, {"format": fmt}, token=station_token)
        assert status == 200 and resp["code"] == 0, resp
        data = base64.b64decode(resp["data"]["content_base64"])
        assert data.startswith(magic) and resp["data"]["file_name"] == f"订单导入模板.{fmt}"
        status, back = api.post(PREVIEW, upload(resp["data"]["file_name"], data),
                                token=station_token)
        assert status == 200 and back["data"]["invalid"] == 0 and back["data"]["valid"] == 2
    status, resp = api.get(TEMPLATE, {"format": "xls"}, token=station_token)
    assert status == 400 and resp["code"] == 40001


def test_operation_cycles_are_the_callers_stations_only(api, station_token, token_for, cycles):
    status, resp = api.get(CYCLES, token=station_token)
    assert status == 200 and resp["data"] == {"time_configs": [
        {"time_config_id": TC, "name": "18:00 截单", "cycle_start": "18:00:00"}]}
    _, other = api.get(CYCLES, token=token_for("s002"))
    assert [c["time_config_id"] for c in other["data"]["time_configs"]] == ["s002-tc"]
