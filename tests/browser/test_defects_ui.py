"""#13 items 9 and 11 in the task center page (headless Chromium, the real app under
LocalRuntime): a `#token=` link asks before replacing the stored login and always leaves
the address bar; task times are shown in the station's zone (China time by default)."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS
from tests.factories import make_task, raw_row


@pytest.fixture
def context(browser):
    ctx = browser.new_context(locale="zh-CN")
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def _open(context, url: str, answer: bool | None = None) -> tuple[object, list[str]]:
    """A new tab (same storage) opening `url`; confirm dialogs get `answer`."""
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept() if answer else dialog.dismiss()
    page.on("dialog", on_dialog)
    page.goto(url)
    return page, dialogs


def test_a_token_link_asks_before_switching_the_stored_login(running_api, context, token_for):
    mine, theirs = token_for("s001"), token_for("s002")
    page, dialogs = _open(context, f"{running_api}/ui/#{urlencode({'token': mine})}")
    expect(page.locator("#station")).to_have_text("站点 s001")
    assert dialogs == [] and "token=" not in page.url       # first login: nothing to ask

    crafted = f"{running_api}/ui/#{urlencode({'token': theirs, 'source_shop_id': 9})}"
    page, dialogs = _open(context, crafted, answer=False)   # the user says no
    expect(page.locator("#station")).to_have_text("站点 s001")
    assert len(dialogs) == 1 and "s002" in dialogs[0] and "s001" in dialogs[0]
    assert "token=" not in page.url
    assert page.evaluate("localStorage.getItem('taskCenter.token')") == mine

    page, dialogs = _open(context, crafted, answer=True)    # the user agrees
    expect(page.locator("#station")).to_have_text("站点 s002")
    assert len(dialogs) == 1 and "token=" not in page.url
    assert page.evaluate("localStorage.getItem('taskCenter.token')") == theirs

    # a link opened in a tab already showing the page (only the fragment changes): the
    # same question (this tab accepts), and the token leaves the address bar
    page.evaluate("(h) => { location.hash = h; }", urlencode({"token": mine}))
    expect(page.locator("#station")).to_have_text("站点 s001")
    assert len(dialogs) == 2 and "token=" not in page.url


def test_task_times_are_shown_in_china_time(running_api, context, token_for):
    task = make_task(status=3)
    created_utc = raw_row(task.id).creat_time.replace(tzinfo=dt.timezone.utc)
    local = created_utc.astimezone(dt.timezone(dt.timedelta(hours=8)))
    page, _ = _open(context, f"{running_api}/ui/#{urlencode({'token': token_for('s001')})}")
    row = page.locator(f'li.task[data-task-id="{task.id}"] .time')
    expect(row).to_contain_text(f"创建于 {local:%Y-%m-%d %H:%M:%S} 北京时间")
