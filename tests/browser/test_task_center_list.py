"""The task center's list in headless Chromium against the real app under LocalRuntime:
paging by the API's cursor with the total, filters by type and status, search by
user_task_id and name, conditional polls (304), and the 375 px layout of all of it.

Every wait is Playwright's (auto-waiting locators and expect), bounded by WAIT_MS.
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from playwright.sync_api import expect

from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus
from chalicelib.service.tasks import NewTask
from tests.browser.conftest import OVERFLOWING

# (type, status, business_name, user_task_id prefix, how many), oldest first
MIX = [(2, TaskStatus.FINISHED, "商品复制", "copy", 25),
       (0, TaskStatus.FAILED, "订单导入", "imp", 10),
       (1, TaskStatus.RUNNING, "订单导出", "exp", 10)]


def seed_tasks() -> list[dict]:
    """45 shown tasks of station s001 (and one of s002), through the task service."""
    svc, made = services().tasks, []
    for type_, status, business, prefix, n in MIX:
        for i in range(n):
            task = svc.create(NewTask(station_id="s001", name=f"{prefix}_job", type=type_,
                                      input={}, user_task_id=f"{prefix}-{i}", repeat=True,
                                      business_name=business)).task
            if status != TaskStatus.SUBMITTED:
                svc.start("s001", task.id)
                if status != TaskStatus.RUNNING:
                    svc.finish("s001", task.id, status=status)
            made.append({"id": task.id, "user_task_id": task.user_task_id,
                         "business_name": business, "type": type_})
    svc.create(NewTask(station_id="s002", name="copy_job", type=2, input={},
                       user_task_id="copy-0", business_name="商品复制"))
    return made


def ids_on_page(page) -> list[int]:
    return [int(i) for i in page.locator("li.task").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.taskId)")]


def test_paging_filters_search_and_conditional_polls(running_api, station_token, open_page):
    made = seed_tasks()
    newest = sorted((t["id"] for t in made), reverse=True)
    page, shot, errors = open_page(f"{running_api}/ui/#" + urlencode({"token": station_token}))
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/task/list" in r.url else None)
    rows, info = page.locator("li.task"), page.locator("#page-info")

    # Paging: 20 a page, newest first, the total; 下一页 / 上一页 by the API's cursor.
    expect(info).to_have_text("第 1–20 个，共 45 个任务")
    expect(rows).to_have_count(20)
    assert ids_on_page(page) == newest[:20]
    expect(page.locator("#page-prev")).to_be_disabled()
    shot("page1")
    page.locator("#page-next").click()
    expect(info).to_have_text("第 21–40 个，共 45 个任务")
    assert ids_on_page(page) == newest[20:40]
    page.locator("#page-next").click()
    expect(info).to_have_text("第 41–45 个，共 45 个任务")
    expect(rows).to_have_count(5)
    assert ids_on_page(page) == newest[40:]
    expect(page.locator("#page-next")).to_be_disabled()
    shot("page3")
    page.locator("#page-prev").click()
    expect(info).to_have_text("第 21–40 个，共 45 个任务")

    # Filters: back to the first page of what matches, each row of that type / status.
    filters = page.locator("#filter-form")
    filters.locator("[name=type]").select_option("0")
    expect(rows).to_have_count(10)
    expect(info).to_have_text("第 1–10 个，共 10 个任务")
    expect(page.locator("#pager")).to_be_hidden()
    for text in rows.locator(".type").all_inner_texts():
        assert text == "导入"
    filters.locator("[name=status]").select_option("3")
    expect(page.locator("#empty")).to_have_text("没有符合条件的任务")
    expect(rows).to_have_count(0)
    filters.locator("[name=type]").select_option("")
    expect(info).to_have_text("第 1–20 个，共 25 个任务")
    assert set(rows.locator(".status").all_inner_texts()) == {"已经完成"}
    filters.locator("[name=status]").select_option("2")
    expect(info).to_have_text("第 1–10 个，共 10 个任务")
    assert set(rows.locator(".status").all_inner_texts()) == {"正在执行"}
    shot("filtered")

    # Search: user_task_id by prefix, names by substring; within the filters.
    filters.locator("[name=status]").select_option("")
    search = filters.locator("[name=q]")
    search.fill("imp-")
    search.press("Enter")
    expect(info).to_have_text("第 1–10 个，共 10 个任务")
    search.fill("exp-7")
    filters.locator("button[type=submit]").click()
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".uid")).to_have_text("ID exp-7")
    expect(rows.first.locator(".name")).to_have_text("订单导出")
    search.fill("复制")
    search.press("Enter")
    expect(info).to_have_text("第 1–20 个，共 25 个任务")
    filters.locator("[name=type]").select_option("1")
    expect(page.locator("#empty")).to_have_text("没有符合条件的任务")
    shot("search")
    page.locator("#filter-clear").click()
    expect(info).to_have_text("第 1–20 个，共 45 个任务")
    expect(search).to_have_value("")
    assert ids_on_page(page) == newest[:20]

    # Polls are conditional: nothing changed, so the server answers 304 and the rows stay.
    expect(page.locator("#poll-state")).to_have_text("任务执行中，每秒刷新")
    expect(page.locator("#tasks")).to_have_attribute("data-not-modified", re.compile(r"^[1-9]"))
    assert 304 in statuses and 200 in statuses
    assert ids_on_page(page) == newest[:20]
    # ... and a change is seen by the next poll (a hidden task leaves the page)
    services().tasks.clear_show("s001", task_ids=[newest[0]])
    expect(info).to_have_text("第 1–20 个，共 44 个任务")
    assert ids_on_page(page) == newest[1:21]
    assert not errors, errors


def test_phone_width_filters_pager_and_rows_fit(running_api, station_token, open_page):
    seed_tasks()
    page, shot, errors = open_page(f"{running_api}/ui/#" + urlencode({"token": station_token}),
                                   width=375, height=740)
    expect(page.locator("#page-info")).to_have_text("第 1–20 个，共 45 个任务")
    expect(page.locator("#pager")).to_be_visible()
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot("phone-list")
    page.locator("#filter-form [name=status]").select_option("5")
    page.locator("#filter-form [name=q]").fill("订单")
    page.locator("#filter-form [name=q]").press("Enter")
    expect(page.locator("#page-info")).to_have_text("第 1–10 个，共 10 个任务")
    assert page.evaluate(OVERFLOWING) == []
    shot("phone-search")
    assert not errors, errors
