"""GET /station/sales_analysis/orderdetail and the export worker, against MariaDB and moto."""
from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest

from chalicelib import texts
from chalicelib.bootstrap import services
from chalicelib.service.export_formats import YONGYOU_COLUMNS
from infra.local.seed_orders import Line, add_order, ensure_time_configs
from tests.integration.engine_helpers import count, queue_bodies
from tests.refusals import assert_refused
from tests.integration.export_helpers import (HEADERS, URL, D, csv_rows, download, export,
                                              exported_keys, known_orders, order_nos,
                                              seeded_orders, sync_file, xlsx_rows)

pytestmark = pytest.mark.usefixtures("empty_exports")

MARCH = {"start_date": "2026-03-01", "end_date": "2026-03-31"}


# -- query types, filters, formats --------------------------------------------------------
@pytest.mark.parametrize("params,expected", [
    ({"query_type": 1, "start_date": "2026-03-01", "end_date": "2026-03-05"},
     ["SO-A1", "SO-A1", "SO-B2"]),
    ({"query_type": 1, "start_date": "2026-03-06", "end_date": "2026-03-10"}, ["SO-C3"] * 3),
    ({"query_type": 3, "start_date": "2026-03-10", "end_date": "2026-03-11"},
     ["SO-B2"] + ["SO-C3"] * 3),
    ({"query_type": 3, "start_date": "2026-03-02", "end_date": "2026-03-02"}, ["SO-A1"] * 2),
    ({"query_type": 2, "time_config_id": "s001-tc1", "cycle_start_time": "2026-02-28 18:00:00",
      "cycle_end_time": "2026-03-10 18:00:00"}, ["SO-A1"] * 2 + ["SO-C3"] * 3),
    ({"query_type": 2, "time_config_id": "s001-tc1", "cycle_start_time": "2026-02-28T18:00:01",
      "cycle_end_time": "2026-03-31T00:00:00"}, ["SO-C3"] * 3),
    ({"query_type": 2, "time_config_id": "s001-tc2", "cycle_start_time": "2026-03-01 00:00:00",
      "cycle_end_time": "2026-03-31 00:00:00"}, ["SO-B2"]),
    ({"query_type": 1, **MARCH, "status": 2}, ["SO-B2"]),
    ({"query_type": 1, **MARCH, "status": 5}, []),
    ({"query_type": 1, **MARCH, "search_text": "张"}, ["SO-A1"] * 2),
    ({"query_type": 1, **MARCH, "search_text": "C3"}, ["SO-C3"] * 3),
    ({"query_type": 1, **MARCH, "search_text": "%"}, []),
    ({"query_type": 1, **MARCH, "search_area": "朝阳区"}, ["SO-A1"] * 2 + ["SO-C3"] * 3),
    ({"query_type": 1, **MARCH, "search_area": "朝阳"}, []),
    ({"query_type": 1, **MARCH, "search_area": "朝阳区", "status": 4, "search_text": "王"},
     ["SO-C3"] * 3),
])
def test_query_types_and_filters_select_the_right_lines(api, station_token, params, expected):
    known_orders()
    rows = csv_rows(sync_file(api, station_token, format="csv", **params))
    assert rows[0] == HEADERS
    assert order_nos(rows) == expected


def test_csv_columns_and_values(api, station_token):
    known_orders()
    rows = csv_rows(sync_file(api, station_token, query_type=1, format="csv",
                              start_date="2026-03-10", end_date="2026-03-10"))
    assert rows == [HEADERS,
                    ["SO-C3", "2026-03-10 23:00:00", "2026-03-11 08:00:00", "2026-03-10 18:00:00",
                     "王芳", "北京市朝阳区建国路1号", "朝阳区", "已签收", "SKU-4", '土豆, "精选"',
                     "斤", "1.50", "2.10", "3.15"],
                    ["SO-C3", "2026-03-10 23:00:00", "2026-03-11 08:00:00", "2026-03-10 18:00:00",
                     "王芳", "北京市朝阳区建国路1号", "朝阳区", "已签收", "SKU-5", "A&B <特价>",
                     "斤", "1.00", "9.90", "9.90"],
                    ["SO-C3", "2026-03-10 23:00:00", "2026-03-11 08:00:00", "2026-03-10 18:00:00",
                     "王芳", "北京市朝阳区建国路1号", "朝阳区", "已签收", "SKU-6", " 前后空格 ",
                     "斤", "2.00", "1.00", "2.00"]]


def test_csv_cells_never_start_a_formula_but_xlsx_keeps_the_text(api, station_token):
    db = services().db
    ensure_time_configs(db, "s001")
    add_order(db, "s001", "SO-F1", order_time=D(2026, 3, 1, 10), customer_name="=1+2",
              address="@SUM(A1)", lines=[Line("-SKU", "+商品", "1", "1.00")])
    params = {"query_type": 1, "start_date": "2026-03-01", "end_date": "2026-03-01"}
    row = csv_rows(sync_file(api, station_token, format="csv", **params))[1]
    assert (row[4], row[5], row[8], row[9]) == ("'=1+2", "'@SUM(A1)", "'-SKU", "'+商品")
    row = xlsx_rows(sync_file(api, station_token, **params))[1]
    assert (row[4], row[5], row[8], row[9]) == ("=1+2", "@SUM(A1)", "-SKU", "+商品")


def test_xlsx_is_the_default_and_reads_back(api, station_token):
    known_orders()
    rows = xlsx_rows(sync_file(api, station_token, query_type=1, **MARCH))
    assert rows[0] == HEADERS
    assert rows[1] == ["SO-A1", "2026-03-01 10:00:00", "2026-03-02 08:00:00",
                       "2026-02-28 18:00:00", "张伟", "北京市朝阳区建国路1号", "朝阳区", "待确认",
                       "SKU-1", "有机西红柿", "斤", 2, 4.5, 9]
    assert [r[9] for r in rows[1:]] == ["有机西红柿", "鸡蛋", "香蕉", '土豆, "精选"',
                                        "A&B <特价>", " 前后空格 "]
    assert [r[13] for r in rows[1:]] == [9, 15.8, 12.9, 3.15, 9.9, 2]


def test_yongyou_layout(api, station_token):
    known_orders()
    rows = xlsx_rows(sync_file(api, station_token, query_type=1, format="yongyou",
                               start_date="2026-03-05", end_date="2026-03-05"))
    assert rows == [[h for h, _ in YONGYOU_COLUMNS],
                    ["SO-B2", "2026-03-05", "C00001", "李娜", "北京市海淀区中关村大街5号", "海淀区",
                     "SKU-3", "香蕉", "斤", 3, 4.3, 12.9, ""]]


def test_the_link_downloads_and_carries_the_configured_expiry(api, station_token):
    """moto serves presigned GETs but does not enforce their expiry (LocalStack and S3 do),
    so the expiry is checked in the signed URL: valid LINK_TTL_SECONDS (60) from now."""
    known_orders()
    assert services().settings.link_ttl_seconds == 60
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    status, resp = export(api, station_token, query_type=1, **MARCH)
    after = dt.datetime.now(dt.timezone.utc)
    link = resp["data"]["link"]
    assert download(link)[:2] == b"PK"
    # signed during the request (the file is written first: a loaded machine takes seconds)
    assert before <= link_expiry(link) - dt.timedelta(seconds=60) <= after


def link_expiry(link: str) -> dt.datetime:
    """When a presigned URL stops working (SigV4: X-Amz-Date + X-Amz-Expires; SigV2: Expires)."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)
    if "X-Amz-Expires" in query:
        signed = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
        return signed.replace(tzinfo=dt.timezone.utc) + dt.timedelta(
            seconds=int(query["X-Amz-Expires"][0]))
    return dt.datetime.fromtimestamp(int(query["Expires"][0]), dt.timezone.utc)


# -- station isolation --------------------------------------------------------------------
def test_another_stations_orders_never_appear(api, token_for):
    known_orders()
    rows = csv_rows(sync_file(api, token_for("s002"), query_type=1, format="csv", **MARCH))
    assert order_nos(rows) == ["SO-X9"]
    rows = csv_rows(sync_file(api, token_for("s002"), query_type=1, format="csv",
                              search_text="SO-A", **MARCH))
    assert order_nos(rows) == []


def test_another_stations_time_config_is_not_found(api, token_for):
    known_orders()
    status, resp = export(api, token_for("s002"), query_type=2, time_config_id="s001-tc1",
                          cycle_start_time="2026-02-01 00:00:00",
                          cycle_end_time="2026-03-31 00:00:00")
    assert status == 404 and resp["msg"] == texts.CYCLE_NOT_FOUND(time_config_id="s001-tc1")


# -- bad input: 4xx and nothing written ---------------------------------------------------
@pytest.mark.parametrize("params,status_code,fields", [
    ({}, 400, ["query_type"]),
    ({"query_type": 4, **MARCH}, 400, ["query_type"]),
    ({"query_type": "x", **MARCH}, 400, ["query_type"]),
    ({"query_type": 1}, 400, ["start_date", "end_date"]),
    ({"query_type": 1, "start_date": "2026-03-01"}, 400, ["end_date"]),
    ({"query_type": 3, "end_date": "2026-03-01"}, 400, ["start_date"]),
    ({"query_type": 2, **MARCH}, 400, ["time_config_id", "cycle_start_time", "cycle_end_time"]),
    ({"query_type": 2, "time_config_id": "s001-tc1", "cycle_start_time": "2026-03-01 00:00:00"},
     400, ["cycle_end_time"]),
    ({"query_type": 1, "start_date": "2026-02-30", "end_date": "2026-03-01"}, 400, ["start_date"]),
    ({"query_type": 1, "start_date": "yesterday", "end_date": "2026-03-01"}, 400, ["start_date"]),
    ({"query_type": 1, "start_date": "9999-12-31", "end_date": "9999-12-31"}, 400,
     ["start_date", "end_date"]),
    ({"query_type": 2, "time_config_id": "s001-tc1", "cycle_start_time": "2026-03-01 25:00:00",
      "cycle_end_time": "2026-03-02 00:00:00"}, 400, ["cycle_start_time"]),
    ({"query_type": 2, "time_config_id": "s001-tc1",
      "cycle_start_time": "2026-03-01T00:00:00+08:00", "cycle_end_time": "2026-03-02 00:00:00"},
     400, ["cycle_start_time"]),
    ({"query_type": 1, "start_date": "2026-03-02", "end_date": "2026-03-01"}, 400, ["end_date"]),
    ({"query_type": 2, "time_config_id": "s001-tc1", "cycle_start_time": "2026-03-02 00:00:00",
      "cycle_end_time": "2026-03-01 00:00:00"}, 400, ["cycle_end_time"]),
    ({"query_type": 2, "time_config_id": "nope", "cycle_start_time": "2026-03-01 00:00:00",
      "cycle_end_time": "2026-03-02 00:00:00"}, 404, []),
    ({"query_type": 1, **MARCH, "format": "pdf"}, 400, ["format"]),
    ({"query_type": 1, **MARCH, "status": "done"}, 400, ["status"]),
    ({"query_type": 1, "start_date": "2025-01-01", "end_date": "2026-01-02"}, 400, ["end_date"]),
    ({"query_type": 2, "time_config_id": "s001-tc1", "cycle_start_time": "2025-01-01 00:00:00",
      "cycle_end_time": "2026-01-02 00:00:01"}, 400, ["cycle_end_time"]),
    ({"query_type": 1, **MARCH, "search_text": "x" * 65}, 400, ["search_text"]),
    ({"query_type": 1, "start_date": "x", "end_date": "y", "format": "pdf", "status": "9"}, 400,
     ["start_date", "end_date", "status", "format"]),
])
def test_bad_input_is_refused_and_writes_nothing(api, station_token, params, status_code,
                                                 fields):
    known_orders()
    seeded_orders(21)           # enough orders that a valid request would start a task
    status, resp = export(api, station_token, **params)
    assert status == status_code
    assert_refused(resp, {400: 40001, 404: 40400}[status_code], *fields)
    if status_code == 404:
        assert resp["msg"] == texts.CYCLE_NOT_FOUND(time_config_id="nope")
    assert count("tbl_async_task") == 0 and exported_keys() == []
    assert queue_bodies(services()) == []


def test_a_full_year_is_accepted(api, station_token):
    known_orders()
    status, resp = export(api, station_token, query_type=1, start_date="2026-01-01",
                          end_date="2027-01-01")
    assert status == 200 and resp["data"]["async"] == 0


def test_without_a_token_it_is_refused(api):
    status, resp = api.get(URL, {"query_type": 1, **MARCH})
    assert status == 401
