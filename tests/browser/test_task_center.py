"""The task center page in headless Chromium against the real local stack: the app under
LocalRuntime with worker processes, MariaDB, moto and the fake product center.

Every wait is Playwright's (auto-waiting locators and expect), bounded by WAIT_MS.
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from chalicelib.bootstrap import services
from infra.local.seed_orders import seed_orders
from tests.browser.conftest import WAIT_MS
from tests.factories import make_task, raw_row
from tests.http_client import GatewayClient
from tests.integration.engine_helpers import app_runtime, seed_shops
from tests.integration.conftest import http
from tests.integration.export_helpers import HEADERS, csv_rows

D = dt.datetime
REJECT_EVERY = 7          # the fake product center rejects source ids divisible by this


@pytest.fixture
def stack(db_clean, stack_env, monkeypatch):
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="20", CHUNK_WINDOW="2") as rt:
        yield rt


def task_row(page, task_id: int):
    return page.locator(f'li.task[data-task-id="{task_id}"]')


def listed(rt, token: str) -> list[dict]:
    status, body = http("GET", rt.url + "/task/list", token)
    assert status == 200, body
    return body["data"]["tasks"]


def test_copy_tasks_progress_download_and_hide(stack, station_token, product_center,
                                               open_page):
    product_center.configure(latency_ms=50, reject_every=REJECT_EVERY)
    shops = seed_shops(100)
    ids = shops["product_ids"]
    rejected = [i for i in ids if i % REJECT_EVERY == 0]
    good = [i for i in ids if i % REJECT_EVERY][:5]
    assert rejected and len(good) == 5
    fragment = urlencode({"token": station_token, "source_shop_id": shops["source"],
                          "target_shop_id": shops["target"]})
    page, shot, errors = open_page(f"{stack.url}/ui/#{fragment}")

    # Logged in from the fragment, which is then dropped from the address bar.
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#station")).to_have_text("站点 s001")
    expect(page.locator("#empty")).to_be_visible()
    assert "token=" not in page.url
    assert page.evaluate("localStorage.getItem('taskCenter.token')") == station_token
    form = page.locator("#copy-form")
    expect(form.locator("[name=source_shop_id]")).to_have_value(str(shops["source"]))
    expect(form.locator("[name=target_shop_id]")).to_have_value(str(shops["target"]))

    # 1) five products that the product center accepts: 已经完成
    form.locator("[name=product_ids]").fill(",".join(map(str, good)))
    form.locator("button[type=submit]").click()
    expect(page.locator("#notice")).to_contain_text("已提交商品复制任务")
    first_id = listed(stack, station_token)[0]["task_id"]
    first = task_row(page, first_id)
    expect(first.locator(".status")).to_have_text("已经完成")
    expect(first.locator(".percent")).to_have_text("100%")
    expect(first.locator("progress")).to_have_js_property("value", 100)
    expect(first.locator(".counts")).to_have_text("共 5 项 · 成功 5 · 失败 0")
    expect(first.locator(".report-link")).to_be_hidden()
    expect(first.locator(".retry")).to_be_hidden()
    expect(first.locator(".hide")).to_be_visible()

    # 2) every product of the source shop, some rejected: 部分成功 with an error report
    form.locator("[name=product_ids]").fill("")
    form.locator("button[type=submit]").click()
    expect(page.locator("li.task")).to_have_count(2)
    second_id = next(t["task_id"] for t in listed(stack, station_token)
                     if t["task_id"] != first_id)
    second = task_row(page, second_id)
    expect(page.locator("li.task").first).to_have_attribute("data-task-id", str(second_id))
    # First seen unfinished (the page polls every second meanwhile), then finished.
    expect(second.locator(".status")).to_have_text(re.compile("^(已经提交|正在执行)$"))
    expect(second.locator(".cancel")).to_be_visible()
    expect(page.locator("#poll-state")).to_have_text("任务执行中，每秒刷新")
    shot("running")
    expect(second.locator(".status")).to_have_text("部分成功")
    expect(second.locator(".percent")).to_have_text("100%")
    expect(second.locator(".counts")).to_have_text(
        f"共 100 项 · 成功 {100 - len(rejected)} · 失败 {len(rejected)}")
    expect(second.locator(".reason")).not_to_be_empty()
    expect(second.locator(".cancel")).to_be_hidden()
    expect(second.locator(".retry")).to_be_visible()
    expect(page.locator("#poll-state")).to_contain_text("所有任务已结束")
    shot("finished")

    # The error report through the page's own link: the CSV the worker wrote.
    with page.expect_download() as info:
        second.locator(".report-link").click()
    report = open(info.value.path(), "rb").read()
    lines = report.decode("utf-8-sig").strip().splitlines()
    assert report.startswith("\ufeff".encode())
    assert lines[0] == "seq,item_id,reason"
    assert sorted(int(line.split(",")[1]) for line in lines[1:]) == sorted(rejected)

    # Hide both finished tasks: they leave the page and the API's list.
    page.locator("#hide-finished").click()
    expect(page.locator("li.task")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#notice")).to_have_text("已隐藏 2 个任务")
    assert listed(stack, station_token) == []
    shot("hidden")
    assert not errors, errors


def internal(key: str, action: str, body: dict) -> int:
    """The internal task API (worker-side processes), in process; returns the task id."""
    import app as app_module
    status, answer = GatewayClient(app_module.app).post(f"/internal/task/{action}", body,
                                                        headers={"X-Auth-Key": key})
    assert status == 200, answer
    return answer["data"]["task_id"]


def test_phone_width_login_box_and_api_errors(stack, station_token, internal_key, open_page):
    shops = seed_shops(10)
    page, shot, errors = open_page(f"{stack.url}/ui", width=375, height=740)

    # /ui redirects to ui/, and with no token the login box shows.
    assert page.url.endswith("/ui/")
    expect(page.locator("#login")).to_be_visible()
    page.locator("#token").fill("not a token")
    page.locator("#login-form button").click()
    expect(page.locator("#error")).to_have_text("令牌格式不正确")

    # A well-formed token signed with another secret: the gateway's msg, back to login.
    from chalicelib.api.auth import issue_token
    forged = issue_token("s001", "another-secret-0123456789abcdef0123")
    status, refused = http("GET", stack.url + "/task/list", forged)
    assert status in (401, 403) and refused["msg"]
    page.locator("#token").fill(forged)
    page.locator("#login-form button").click()
    expect(page.locator("#error")).to_have_text(refused["msg"])
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#login")).to_be_visible()

    page.locator("#token").fill(station_token)
    page.locator("#login-form button").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()

    # An unknown source shop: the page shows exactly the API's msg.
    body = {"source_shop_id": 999_999_999, "target_shop_id": shops["target"], "filter": {}}
    status, answer = http("POST", stack.url + "/station/product/copy_task", station_token, body)
    assert status == 404 and answer["msg"]
    form = page.locator("#copy-form")
    form.locator("[name=source_shop_id]").fill(str(body["source_shop_id"]))
    form.locator("[name=target_shop_id]").fill(str(body["target_shop_id"]))
    form.locator("button[type=submit]").click()
    expect(page.locator("#error")).to_have_text(answer["msg"])
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("li.task")).to_have_count(0)
    loads = int(page.locator("#tasks").get_attribute("data-loads"))
    page.locator("#refresh").click()                 # a list load does not clear it
    expect(page.locator("#tasks")).not_to_have_attribute("data-loads", str(loads))
    expect(page.locator("#error")).to_be_visible()

    # A refused request with several problems: the msg, then each problem on its line
    # (field path, the reason in Chinese with the English), within 375 px.
    page.evaluate("""async () => {
        try {
          await TaskCenter.api("POST", "task/clear_show", { body: { task_ids: ["1", 0, 3] } });
        } catch (e) {
          TaskCenter.showErrorIn(document.getElementById("error"), e);
        }
    }""")
    problems = page.locator("#error li")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_have_text(re.compile(r"^task_ids\[0\] [^（]*[\u4e00-\u9fff][^（]*（.+）$"))
    expect(problems.nth(1)).to_have_text(re.compile(r"^task_ids\[1\] 必须大于 0（must be > 0）$"))
    expect(page.locator("#error")).to_contain_text("等 2 个问题")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot("problems")

    # A task from a worker-side process (internal API) with hostile text and links: shown
    # as text, and only the http(s) link is offered.
    hostile_name = "<img src=x onerror=alert(1)>" + "很长的任务名称" * 5
    hostile_id = internal(internal_key, "add", {
        "station_id": "s001", "name": "hostile", "type": 1, "business_name": hostile_name})
    internal(internal_key, "start", {"station_id": "s001", "task_id": hostile_id})
    internal(internal_key, "finish", {
        "station_id": "s001", "task_id": hostile_id, "status": 3,
        "result": {"link": "javascript:alert(1)", "error_report_url": "https://example.invalid/r"}})

    # A copy task on the list too, then nothing overflows 375 px.
    form.locator("[name=source_shop_id]").fill(str(shops["source"]))
    form.locator("button[type=submit]").click()
    expect(page.locator("li.task")).to_have_count(2)
    expect(page.locator("#error")).to_be_hidden()
    hostile = task_row(page, hostile_id)
    expect(hostile.locator(".name")).to_have_text(hostile_name)
    expect(hostile.locator("img")).to_have_count(0)
    expect(hostile.locator(".type")).to_have_text("导出")
    expect(hostile.locator(".result-link")).to_be_hidden()
    expect(hostile.locator(".report-link")).to_have_attribute("href", "https://example.invalid/r")
    page.locator("#export-card summary").click()
    overflowing = page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        return [...document.querySelectorAll('body *')]
          .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > width + 0.5)
          .map((el) => el.tagName + '.' + el.className);
    }""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert overflowing == []
    shot("phone")
    assert not errors, errors


def test_cancel_then_retry_to_done(db_clean, stack_env, monkeypatch, station_token,
                                   product_center, open_page):
    # Slow enough (100 items, 4 calls at a time, 500 ms each) that the cancel lands mid-run.
    product_center.configure(latency_ms=500)
    shops = seed_shops(100)
    fragment = urlencode({"token": station_token, "source_shop_id": shops["source"],
                          "target_shop_id": shops["target"]})
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="20", CHUNK_WINDOW="2",
                     CHUNK_THREADS="2") as rt:
        page, shot, errors = open_page(f"{rt.url}/ui/#{fragment}")
        page.locator("#copy-form button[type=submit]").click()
        row = page.locator("li.task")
        expect(row).to_have_count(1)
        expect(row.locator(".status")).to_have_text("正在执行")
        row.locator(".cancel").click()
        expect(page.locator("#notice")).to_have_text("已请求取消任务，正在停止")

        # Cancelled: it ends with the seed's 4 or 5, flagged, the unrun items counted.
        expect(row.locator(".status")).to_have_text(re.compile("^(部分成功|执行失败)$"))
        expect(row.locator(".cancelled")).to_be_visible()
        expect(row.locator(".counts")).to_contain_text("已取消")
        expect(row.locator(".reason")).to_have_text(re.compile("^已取消"))
        expect(row.locator(".cancel")).to_be_hidden()
        task = listed(rt, station_token)[0]
        assert task["cancelled"] is True and task["counts"]["cancelled"] > 0
        assert row.locator(".percent").inner_text() == f"{task['progress']}%"
        shot("cancelled")

        # Retry runs the cancelled items again; this time the product center is fast.
        product_center.configure(latency_ms=0)
        row.locator(".retry").click()
        expect(row.locator(".status")).to_have_text("已经完成")
        expect(row.locator(".percent")).to_have_text("100%")
        expect(row.locator(".counts")).to_have_text("共 100 项 · 成功 100 · 失败 0")
        expect(row.locator(".time")).to_contain_text("第 2 次执行")
        expect(row.locator(".cancelled")).to_be_hidden()
        expect(row.locator(".retry")).to_be_hidden()
        shot("retried")
        row.locator(".hide").click()                     # the task's own 隐藏 button
        expect(row).to_have_count(0)
        assert listed(rt, station_token) == []
        assert not errors, errors


def test_order_export_link_and_export_task(stack, station_token, open_page):
    seed_orders(services().db, "s001", 3 * 5, until=D(2026, 3, 10, 12), days=1)    # 3 orders
    seed_orders(services().db, "s001", 25 * 5, until=D(2026, 4, 1, 12), days=1)    # 25 orders
    page, shot, errors = open_page(f"{stack.url}/ui/#" + urlencode({"token": station_token}))
    page.locator("#export-card summary").click()
    form = page.locator("#export-form")
    form.locator("[name=format]").select_option("csv")

    # Few orders: the API answers with a link and the page downloads it at once.
    form.locator("[name=start_date]").fill("2026-03-09")
    form.locator("[name=end_date]").fill("2026-03-10")
    with page.expect_download() as info:
        form.locator("button[type=submit]").click()
    rows = csv_rows(open(info.value.path(), "rb").read())
    assert rows[0] == HEADERS and len(rows) == 1 + 15
    expect(page.locator("#notice")).to_contain_text("导出完成")
    expect(page.locator("li.task")).to_have_count(0)

    # More: an export task shows up, runs on a worker and offers its file.
    form.locator("[name=start_date]").fill("2026-03-31")
    form.locator("[name=end_date]").fill("2026-04-01")
    form.locator("button[type=submit]").click()
    expect(page.locator("#notice")).to_contain_text("已转为后台导出任务")
    row = page.locator("li.task")
    expect(row).to_have_count(1)
    expect(row.locator(".type")).to_have_text("导出")
    expect(row.locator(".status")).to_have_text("已经完成")
    expect(row.locator(".percent")).to_have_text("100%")
    expect(row.locator(".counts")).to_have_text("共 125 行")        # 25 orders, 5 lines each
    with page.expect_download() as info:
        row.locator(".result-link").click()
    rows = csv_rows(open(info.value.path(), "rb").read())
    assert rows[0] == HEADERS and len(rows) == 1 + 125
    shot("export")
    assert not errors, errors


# -- a `#token=` link asks before replacing the stored login and always leaves the address
# bar; task times are shown in the station's zone (China time by default)
@pytest.fixture
def zh_context(browser):
    ctx = browser.new_context(locale="zh-CN")
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def open_tab(context, url: str, answer: bool | None = None) -> tuple[object, list[str]]:
    """A new tab (same storage) opening `url`; confirm dialogs get `answer`."""
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept() if answer else dialog.dismiss()
    page.on("dialog", on_dialog)
    page.goto(url)
    return page, dialogs


def test_a_token_link_asks_before_switching_the_stored_login(running_api, zh_context, token_for):
    mine, theirs = token_for("s001"), token_for("s002")
    page, dialogs = open_tab(zh_context, f"{running_api}/ui/#{urlencode({'token': mine})}")
    expect(page.locator("#station")).to_have_text("站点 s001")
    assert dialogs == [] and "token=" not in page.url       # first login: nothing to ask

    crafted = f"{running_api}/ui/#{urlencode({'token': theirs, 'source_shop_id': 9})}"
    page, dialogs = open_tab(zh_context, crafted, answer=False)   # the user says no
    expect(page.locator("#station")).to_have_text("站点 s001")
    assert len(dialogs) == 1 and "s002" in dialogs[0] and "s001" in dialogs[0]
    assert "token=" not in page.url
    assert page.evaluate("localStorage.getItem('taskCenter.token')") == mine

    page, dialogs = open_tab(zh_context, crafted, answer=True)    # the user agrees
    expect(page.locator("#station")).to_have_text("站点 s002")
    assert len(dialogs) == 1 and "token=" not in page.url
    assert page.evaluate("localStorage.getItem('taskCenter.token')") == theirs

    # a link opened in a tab already showing the page (only the fragment changes): the
    # same question (this tab accepts), and the token leaves the address bar
    page.evaluate("(h) => { location.hash = h; }", urlencode({"token": mine}))
    expect(page.locator("#station")).to_have_text("站点 s001")
    assert len(dialogs) == 2 and "token=" not in page.url


def test_task_times_are_shown_in_china_time(running_api, zh_context, token_for):
    task = make_task(status=3)
    created_utc = raw_row(task.id).creat_time.replace(tzinfo=dt.timezone.utc)
    local = created_utc.astimezone(dt.timezone(dt.timedelta(hours=8)))
    page, _ = open_tab(zh_context, f"{running_api}/ui/#{urlencode({'token': token_for('s001')})}")
    row = page.locator(f'li.task[data-task-id="{task.id}"] .time')
    expect(row).to_contain_text(f"创建于 {local:%Y-%m-%d %H:%M:%S} 北京时间")
