"""Pure parts of the task center: the ETA from the measured rate, the ETag rules, the
search pattern escaping and the spec of the conditional reads."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from chalicelib.adapters.task_repo import from_row, like_escape
from chalicelib.api import conditional
from chalicelib.api.openapi import build_spec
from chalicelib.config import get_settings
from chalicelib.domain.eta import eta_seconds

T0 = dt.datetime(2026, 12, 2, 8, 0, 0)


def task(**kw):
    row = {"id": 1, "station_id": "s001", "name": "product_copy", "type": 2, "user_task_id": None,
           "result": None, "repeat": 0, "message_show": 1, "run_count": 1, "creat_time": T0,
           "modify_time": T0, "end_time": None, "business_id": 0, "business_name": "",
           "reason": "", "status": 2, "start_time": T0, "cancelled": 0, "total_items": 100,
           "succeeded_items": 0, "failed_items": 0, "cancelled_items": 0, "progress": 0,
           "run_base_done": 0, "callback_url": None, "notified_at": None,
           "notify_attempts": 0, "notify_last_error": None}
    row.update(kw)
    return from_row(row)


@pytest.mark.parametrize("row,seconds_in,eta", [
    (task(succeeded_items=20, failed_items=5), 10, 30),      # 25 in 10 s, 75 left
    (task(succeeded_items=1), 10, 990),
    (task(succeeded_items=100), 10, 0),                       # all done, not yet finalized
    # a retry: 80 succeeded before this run; 10 of the 20 reopened done in 5 s
    (task(succeeded_items=88, failed_items=2, run_base_done=80), 5, 5),
    (task(total_items=500, progress=25), 30, 90),             # an export: progress only
    (task(), 10, None),                                       # nothing done yet
    (task(succeeded_items=5), 0.5, None),                     # too early to tell
    (task(status=1, succeeded_items=5), 10, None),            # not running
    (task(status=3, succeeded_items=100), 10, None),
    (task(succeeded_items=5, cancelled=1), 10, None),         # being cancelled
    (task(start_time=None, succeeded_items=5), 10, None),
    (task(succeeded_items=80, run_base_done=80), 10, None),   # a retry that did nothing yet
])
def test_eta_from_the_runs_measured_rate(row, seconds_in, eta):
    assert eta_seconds(row, T0 + dt.timedelta(seconds=seconds_in)) == eta


def request(header=None):
    return SimpleNamespace(headers={} if header is None else {"if-none-match": header})


def test_etag_is_weak_station_scoped_and_matched_weakly():
    s = get_settings()
    tag = conditional.etag_of(s, "s001", "list", [1, 2])
    assert tag.startswith('W/"') and tag.endswith('"') and len(tag) == 36
    assert tag == conditional.etag_of(s, "s001", "list", [1, 2])
    assert tag != conditional.etag_of(s, "s002", "list", [1, 2])      # never shared
    assert tag != conditional.etag_of(s, "s001", "get", [1, 2])
    assert tag != conditional.etag_of(s, "s001", "list", [1, 3])
    strong = tag[2:]
    for header, hit in ((tag, True), (strong, True), (f'W/"x", {tag}', True), ("*", True),
                        ('W/"other"', False), ("", False), (None, False)):
        assert conditional.matches(request(header), tag) is hit, header


def test_link_epoch_turns_every_half_link_lifetime():
    s = get_settings()
    half = s.link_ttl_seconds // 2
    assert conditional.link_epoch(s, 10 * half) == conditional.link_epoch(s, 11 * half - 1)
    assert conditional.link_epoch(s, 11 * half) == conditional.link_epoch(s, 10 * half) + 1


def test_not_modified_and_tagged_answers():
    r = conditional.not_modified('W/"abc"')
    assert r.status_code == 304 and r.body == "" and r.headers["ETag"] == 'W/"abc"'
    assert r.headers["Cache-Control"] == "private, no-cache"
    ok = conditional.tagged({"a": 1}, 'W/"abc"')
    assert ok.status_code == 200 and ok.headers["Vary"] == "Authorization"
    from chalicelib.api.http import JSON_HEADERS
    assert "ETag" not in JSON_HEADERS              # the shared default headers stay as they are


def test_like_escape():
    assert like_escape("50%_a!b") == "50!%!_a!!b"


def test_conditional_reads_and_failures_in_the_spec():
    spec = build_spec()
    for path in ("/task/get", "/task/list"):
        op = spec["paths"][path]["get"]
        assert any(p["in"] == "header" and p["name"] == "If-None-Match" for p in op["parameters"])
        assert op["responses"]["200"]["headers"]["ETag"]["required"] is True
        assert "content" not in op["responses"]["304"]
    failures = spec["paths"]["/task/failures"]["get"]
    params = {p["name"]: p for p in failures["parameters"]}
    assert params["task_id"]["required"] and not params["cursor"]["required"]
    assert params["limit"]["schema"]["maximum"] == 100
    assert {"404", "400", "401", "403"} <= set(failures["responses"])
    listing = spec["components"]["schemas"]["TaskList"]["properties"]
    assert {"total", "next_cursor"} <= set(listing)
    item = spec["components"]["schemas"]["TaskItem"]
    assert "eta_seconds" in item["required"]
