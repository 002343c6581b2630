"""A running copy's ETA and, once it ends 部分成功, its failures panel (GET /task/failures,
a page at a time) next to the CSV link, in headless Chromium against the real stack (the app
under LocalRuntime with worker processes, MariaDB, moto, the fake product center), at
desktop width and at 375 px.

Every wait is Playwright's (auto-waiting locators and expect), bounded by WAIT_MS.
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from playwright.sync_api import expect

from tests.browser.conftest import OVERFLOWING
from tests.integration.engine_helpers import app_runtime, seed_shops

REJECT_EVERY = 7          # the fake product center rejects source ids divisible by this


def test_eta_while_running_then_failures_panel_and_csv(db_clean, stack_env, monkeypatch,
                                                       station_token, product_center,
                                                       open_page):
    # 200 items at 100 ms, 2 threads per chunk on 2 workers: a run of several seconds.
    product_center.configure(latency_ms=100, reject_every=REJECT_EVERY)
    shops = seed_shops(200)
    rejected = sorted(i for i in shops["product_ids"] if i % REJECT_EVERY == 0)
    assert len(rejected) > 20                   # more than one page of failures
    fragment = urlencode({"token": station_token, "source_shop_id": shops["source"],
                          "target_shop_id": shops["target"]})
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="20", CHUNK_WINDOW="2",
                     CHUNK_THREADS="2") as rt:
        page, shot, errors = open_page(f"{rt.url}/ui/#{fragment}")
        page.locator("#copy-form button[type=submit]").click()
        row = page.locator("li.task")
        expect(row).to_have_count(1)

        # Running: the ETA from the measured rate, in the row's meta line.
        expect(row.locator(".status")).to_have_text("正在执行")
        eta = row.locator(".eta")
        expect(eta).to_have_text(re.compile(r"^预计剩余 约 \d+ (秒|分 \d+ 秒)$"))
        shot("eta")
        # The panel can be opened while it runs (failures so far).
        expect(row.locator(".failures-toggle")).to_be_visible()

        expect(row.locator(".status")).to_have_text("部分成功")
        expect(eta).to_be_hidden()
        expect(row.locator(".counts")).to_have_text(
            f"共 200 项 · 成功 {200 - len(rejected)} · 失败 {len(rejected)}")
        expect(row.locator(".time")).to_contain_text("结束于")

        # The failures panel: the first page, then 加载更多 until all are listed.
        panel = row.locator(".failures")
        row.locator(".failures-toggle").click()
        expect(panel).to_be_visible()
        items = panel.locator(".failure-list li")
        expect(items).to_have_count(20)
        expect(panel.locator(".failures-state")).to_have_text(
            f"共 {len(rejected)} 项失败，已显示 20 项")
        shot("failures-page1")
        panel.locator(".failures-more").click()
        expect(items).to_have_count(len(rejected))
        expect(panel.locator(".failures-more")).to_be_hidden()
        expect(panel.locator(".failures-state")).to_have_text(
            f"共 {len(rejected)} 项失败，已显示 {len(rejected)} 项")
        shown = [int(re.search(r"项目 (\d+)", t).group(1))
                 for t in items.locator(".failure-item").all_inner_texts()]
        assert sorted(shown) == rejected
        for reason in items.locator(".failure-reason").all_inner_texts():
            assert reason.strip()
        # The panel stays open across polls (the row is updated in place).
        loads = int(page.locator("#tasks").get_attribute("data-loads"))
        page.locator("#refresh").click()
        expect(page.locator("#tasks")).not_to_have_attribute("data-loads", str(loads))
        expect(items).to_have_count(len(rejected))

        # The CSV link is kept, in the panel and in the row: the same failures.
        with page.expect_download() as info:
            panel.locator(".failures-csv").click()
        lines = open(info.value.path(), "rb").read().decode("utf-8-sig").strip().splitlines()
        assert sorted(int(line.split(",")[1]) for line in lines[1:]) == rejected
        expect(row.locator(".report-link")).to_be_visible()
        shot("failures-all")

        # At 375 px the open panel fits too.
        phone, phone_shot, phone_errors = open_page(
            f"{rt.url}/ui/#" + urlencode({"token": station_token}), width=375, height=740)
        phone_row = phone.locator("li.task")
        phone_row.locator(".failures-toggle").click()
        expect(phone_row.locator(".failure-list li")).to_have_count(20)
        assert phone.evaluate(OVERFLOWING) == []
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        phone_shot("phone-failures")
        row.locator(".failures-toggle").click()
        expect(panel).to_be_hidden()
        assert not errors and not phone_errors, (errors, phone_errors)
