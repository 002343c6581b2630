"""The task center's 订单导入 card (chalicelib/ui/import.js) in headless Chromium against the
real local stack (the app under LocalRuntime with worker processes, MariaDB, moto): a
spreadsheet with bad rows previewed with each bad row's reason, submitted, its task ending
部分成功 with the same reasons in its error report; the template downloads; the files that
are refused in the page with nothing submitted; the 375 px layout.

Every wait is Playwright's (auto-waiting locators and expect), bounded by WAIT_MS.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
import xlsxwriter
from playwright.sync_api import expect

from chalicelib.bootstrap import services
from chalicelib.service.import_file import COLUMNS
from infra.local.seed_orders import ensure_time_configs
from tests.integration.conftest import http
from tests.integration.engine_helpers import app_runtime, count

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
D = dt.datetime
# (customer_name, order_time, receive_time, sku, name, quantity, unit_price); None = empty
ROWS = [
    ("张三", D(2026, 12, 1, 9, 30), D(2026, 12, 2, 8), "SKU-1", "红富士苹果", 2.5, 7.9),
    (None, None, None, "SKU-2", "鸡蛋", 1, 15.8),                 # a 2nd line of 张三's order
    ("李四", D(2026, 12, 1, 10), "明天上午", "SKU-3", "黄瓜", 1, 3.2),   # bad receive_time
    ("王五", D(2026, 12, 1, 11), D(2026, 12, 2, 8), "SKU-4", "大白菜", 0, 5),  # quantity 0
    ("赵六", D(2026, 12, 1, 12), D(2026, 12, 2, 8), "SKU-5", "土豆", 3, 2.1),
]
BAD = {"4": "第 2 条订单（表格第 4 行）：receive_time 格式须为 YYYY-MM-DD HH:MM:SS"
            "（must be 'YYYY-MM-DD HH:MM:SS'）",
       "5": "第 3 条订单（表格第 5 行）：lines[0].quantity 必须大于 0（must be > 0）"}


def orders_xlsx() -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("订单")
    when = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write_row(0, 0, COLUMNS)
    at = {name: COLUMNS.index(name) for name in COLUMNS}
    for r, (who, ordered, receive, sku, name, qty, price) in enumerate(ROWS, start=1):
        for column, value in (("customer_name", who), ("order_time", ordered),
                              ("receive_time", receive), ("sku", sku), ("name", name),
                              ("quantity", qty), ("unit_price", price)):
            if isinstance(value, dt.datetime):
                ws.write_datetime(r, at[column], value, when)
            elif value is not None:
                ws.write(r, at[column], value)
    wb.close()
    return buf.getvalue()


@pytest.fixture
def stack(db_clean, stack_env, monkeypatch):
    ensure_time_configs(services().db, "s001")
    with app_runtime(monkeypatch, stack_env, 2) as rt:
        yield rt


def open_import(open_page, url: str, token: str, **size: int) -> tuple[Any, Any, Any]:
    page, shot, errors = open_page(f"{url}/ui/#{urlencode({'token': token})}", **size)
    expect(page.locator("#app")).to_be_visible()
    page.locator("#import-card summary").click()
    expect(page.locator("#import-card select[name=time_config_id] option")).to_have_count(3)
    return page, shot, errors


def pick(page: Any, name: str, data: bytes, mime: str = XLSX) -> None:
    page.locator("#import-file").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_a_spreadsheet_with_bad_rows_is_previewed_submitted_and_finishes(
        stack, station_token, open_page):
    page, shot, errors = open_import(open_page, stack.url, station_token)
    page.locator("#import-card select").select_option("s001-tc2")
    pick(page, "12月订单.xlsx", orders_xlsx())

    summary = page.locator("#import-summary")
    expect(summary).to_have_text("12月订单.xlsx：共 5 行，4 条订单；2 条可导入，2 条有问题")
    problems = page.locator("#import-problems li")
    expect(problems).to_have_count(2)
    for rows, reason in BAD.items():
        item = page.locator(f'#import-problems li[data-rows="{rows}"]')
        expect(item.locator(".rows")).to_have_text(f"表格第 {rows} 行")
        expect(item.locator(".reason")).to_have_text(reason)
    table = page.locator("#import-preview tbody tr")
    expect(table).to_have_count(5)
    expect(page.locator("#import-preview tr.bad")).to_have_count(2)
    expect(page.locator('#import-preview tr[data-row="5"] td.problem')).to_have_text(
        "lines[0].quantity 必须大于 0（must be > 0）")
    expect(page.locator('#import-preview tr[data-row="3"] td.problem')).to_have_text("✓")
    shot("preview")
    assert count("tbl_async_task") == 0                   # a preview submits nothing

    page.locator("#import-submit").click()
    expect(page.locator("#import-status")).to_contain_text("已提交订单导入任务")
    status, body = http("GET", stack.url + "/task/list", station_token)
    task = body["data"]["tasks"][0]
    assert task["type"] == 0 and task["user_task_id"].startswith("ui-import-")
    row = page.locator(f'li.task[data-task-id="{task["task_id"]}"]')
    expect(row.locator(".status")).to_have_text("部分成功")
    expect(row.locator(".type")).to_have_text("导入")
    expect(row.locator(".counts")).to_have_text("共 4 项 · 成功 2 · 失败 2")
    expect(row.locator(".report-link")).to_be_visible()
    shot("finished")
    with urllib.request.urlopen(row.locator(".report-link").get_attribute("href")) as resp:
        report = list(csv.reader(io.StringIO(resp.read().decode("utf-8-sig"))))
    assert [r[2] for r in report[1:]] == list(BAD.values())   # the reasons the page showed

    def imported(cur: Any) -> list[tuple[str, str]]:
        cur.execute("SELECT customer_name, time_config_id FROM tbl_order ORDER BY id")
        return [(r["customer_name"], r["time_config_id"]) for r in cur.fetchall()]
    assert services().db.run(imported) == [("张三", "s001-tc2"), ("赵六", "s001-tc2")]
    assert not errors, errors


def test_refused_files_submit_nothing_and_the_templates_download(
        stack, station_token, open_page, tmp_path):
    page, shot, errors = open_import(open_page, stack.url, station_token)
    error, submit = page.locator("#import-error"), page.locator("#import-submit")
    cases = [  # refused in the page before sending, then by the server's reading of it
        ("notes.txt", b"customer_name\n", "text/plain", "只能导入 .xlsx 或 .csv 表格文件"),
        ("empty.csv", b"", "text/csv", "文件是空的"),
        ("big.csv", b"x" * (4 * 1024 * 1024 + 1), "text/csv", "文件超过 4 MB"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/csv", "文件不是表格"),
        ("fake.xlsx", b"this is not a workbook", XLSX, "文件不是有效的 .xlsx 表格"),
        ("header.csv", ",".join(COLUMNS).encode(), "text/csv", "文件中没有订单行"),
        ("other.csv", "name,price\r\n苹果,2".encode(), "text/csv", "表头缺少列"),
    ]
    for name, data, mime, reason in cases:
        pick(page, name, data, mime)
        expect(error).to_contain_text(reason)
        expect(error).to_contain_text("（")                       # with the English
        expect(page.locator("#import-status")).to_have_text("未提交任何数据")
        expect(submit).to_be_disabled()
        expect(page.locator("#import-summary")).to_be_hidden()
        if name == "big.csv":
            shot("refused-too-large")
    shot("refused")
    assert count("tbl_async_task") == 0 and count("tbl_order") == 0

    for fmt in ("xlsx", "csv"):
        with page.expect_download() as got:
            page.locator(f"#import-template-{fmt}").click()
        download = got.value
        assert download.suggested_filename == f"订单导入模板.{fmt}"
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        if fmt == "csv":
            assert next(csv.reader(io.StringIO(path.read_text("utf-8-sig")))) == list(COLUMNS)
        # the downloaded template imports as it is
        pick(page, path.name, path.read_bytes())
        expect(page.locator("#import-summary")).to_contain_text("2 条可导入，0 条有问题")
    assert not errors, errors


def test_the_import_card_at_375px(stack, station_token, open_page):
    page, shot, errors = open_import(open_page, stack.url, station_token, width=375,
                                     height=740)
    pick(page, "订单.xlsx", orders_xlsx())
    expect(page.locator("#import-problems li")).to_have_count(2)
    expect(page.locator("#import-preview tbody tr")).to_have_count(5)
    # The preview table scrolls inside its own box; nothing else is wider than the screen.
    overflowing = page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        return [...document.querySelectorAll('body *')]
          .filter((el) => !el.closest('.import-table') || el.matches('.import-table'))
          .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > width + 0.5)
          .map((el) => el.tagName + '.' + el.className);
    }""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert overflowing == []
    assert page.evaluate("(() => { const t = document.querySelector('.import-table');"
                         " return t.scrollWidth > t.clientWidth; })()")   # it does scroll
    shot("phone")
    assert not errors, errors
