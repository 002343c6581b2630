"""The task center's reads over the API: /task/list paged by cursor with a total, filtered
and searched; /task/failures paged and station-scoped; eta_seconds; ETag / 304 (in process
through LocalGateway, and over HTTP through the local runtime's front server and API pool,
with the CORS grant exposing ETag)."""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from chalicelib.adapters import task_repo
from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus
from tests.refusals import assert_refused
from tests.conftest import CORS_ORIGIN
from tests.factories import make_task


def ids(body: dict) -> list[int]:
    return [t["task_id"] for t in body["data"]["tasks"]]


def add_failures(task_id: int, count: int, first_seq: int = 0) -> None:
    """Failed detail rows as a worker records them, with the task's counter."""
    def tx(cur: Any) -> None:
        cur.executemany(
            "INSERT INTO tbl_task_detail (task_id, seq, item_id, outcome, reason, finish_time)"
            " VALUES (%s, %s, %s, 2, %s, UTC_TIMESTAMP(3))",
            [(task_id, s, 1000 + s, f"商品 {1000 + s} 创建失败 (rejected)")
             for s in range(first_seq, first_seq + count)])
        task_repo.add_outcomes(cur, task_id, 0, count)
    services().db.run(tx)


def test_cursor_pages_reach_every_shown_task_once_with_the_total(api, station_token):
    made = [make_task().id for _ in range(23)]
    make_task(message_show=False)
    make_task(station_id="s002")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        status, body = api.get("/task/list", params, token=station_token)
        assert status == 200 and body["data"]["total"] == 23
        seen += ids(body)
        pages += 1
        cursor = body["data"]["next_cursor"]
        if cursor is None:
            break
        assert cursor == ids(body)[-1]
    assert seen == sorted(made, reverse=True) and pages == 3
    # a task created meanwhile does not shift the next page (keyset, not offset)
    _, first = api.get("/task/list", {"limit": 10}, token=station_token)
    make_task()
    _, second = api.get("/task/list", {"limit": 10, "cursor": first["data"]["next_cursor"]},
                        token=station_token)
    assert ids(second) == sorted(made, reverse=True)[10:20]
    assert second["data"]["total"] == 24
    # the old offset paging still works, and an empty page past the end keeps the total
    _, body = api.get("/task/list", {"limit": 10, "offset": 20}, token=station_token)
    assert len(ids(body)) == 4 and body["data"]["next_cursor"] is None
    _, body = api.get("/task/list", {"cursor": min(made)}, token=station_token)
    assert ids(body) == [] and body["data"]["total"] == 24 and body["data"]["finish"] is False


def test_filters_by_type_and_status_with_totals(api, station_token):
    imp_run = make_task(type_=0, status=TaskStatus.RUNNING)
    imp_done = make_task(type_=0, status=TaskStatus.FINISHED)
    exp_failed = make_task(type_=1, status=TaskStatus.FAILED)
    proc_partial = make_task(type_=2, status=TaskStatus.PARTIAL)
    proc_new = make_task(type_=2)
    cases = [({"type": 0}, [imp_done, imp_run], False),
             ({"type": 1}, [exp_failed], True),
             ({"status": 4}, [proc_partial], True),
             ({"type": 2, "status": 1}, [proc_new], False),
             ({"type": 0, "status": 3}, [imp_done], True),
             ({"type": 1, "status": 2}, [], True)]
    for params, want, finish in cases:
        status, body = api.get("/task/list", params, token=station_token)
        assert status == 200, body
        assert ids(body) == [t.id for t in want], params
        assert body["data"]["total"] == len(want) and body["data"]["finish"] is finish, params


def test_search_by_user_task_id_prefix_and_name(api, station_token):
    from chalicelib.service.tasks import NewTask
    svc = services().tasks

    def new(name, business, uid=None):
        return svc.create(NewTask(station_id="s001", name=name, type=2, input={},
                                  user_task_id=uid, repeat=True, business_name=business)).task
    copy = new("product_copy", "商品复制", "ui-2026-001")
    copy2 = new("product_copy", "商品复制", "ui-2026-002")
    export = new("order_export", "订单导出", "EXP_50%")
    new("order_export", "订单导出", "s002-like")
    svc.create(NewTask(station_id="s002", name="product_copy", type=2, input={},
                       user_task_id="ui-2026-003", business_name="商品复制"))
    s002_like = ids(api.get("/task/list", {"q": "s002-like"}, token=station_token)[1])
    cases = [("ui-2026", [copy2, copy]), ("ui-2026-001", [copy]),
             ("复制", [copy2, copy]), ("PRODUCT", [copy2, copy]),      # names in any case
             ("EXP_50%", [export]),               # % and _ are text, not wildcards
             ("50%", []),                         # user_task_id by prefix only
             ("%", []), ("xyz", []),
             ("  订单导出 ", [s002_like[0], export])]   # stripped
    for q, want in cases:
        status, body = api.get("/task/list", {"q": q}, token=station_token)
        assert status == 200, body
        assert ids(body) == [t if isinstance(t, int) else t.id for t in want], q
        assert body["data"]["total"] == len(want), q
    # "_" is a character too: it finds the names that hold one (product_copy, order_export)
    _, body = api.get("/task/list", {"q": "_"}, token=station_token)
    assert body["data"]["total"] == 4
    _, body = api.get("/task/list", {"q": "ui-", "type": 2, "status": 1, "limit": 1},
                      token=station_token)
    assert ids(body) == [copy2.id] and body["data"]["total"] == 2
    assert body["data"]["next_cursor"] == copy2.id


@pytest.mark.parametrize("params,fragment", [
    ({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"type": 3}, "type"),
    ({"status": 0}, "status"), ({"status": 6}, "status"), ({"status": "running"}, "status"),
    ({"cursor": 0}, "cursor"), ({"cursor": "abc"}, "cursor"), ({"cursor": "-5"}, "cursor"),
    ({"cursor": str(2**63)}, "cursor"), ({"q": "x" * 65}, "q"), ({"offset": -1}, "offset"),
])
def test_bad_list_parameters_are_400_and_change_nothing(api, station_token, params, fragment):
    task = make_task()
    status, body = api.get("/task/list", params, token=station_token)
    assert status == 400
    assert_refused(body, 40001, fragment)
    _, body = api.get("/task/list", {}, token=station_token)
    assert ids(body) == [task.id]


def test_failures_are_paged_in_seq_order_and_station_scoped(api, station_token, token_for):
    task = make_task(status=TaskStatus.RUNNING)
    add_failures(task.id, 45)
    seen, cursor = [], None
    while True:
        params = {"task_id": task.id, "limit": 20, **({"cursor": cursor} if cursor is not None else {})}
        status, body = api.get("/task/failures", params, token=station_token)
        assert status == 200, body
        data = body["data"]
        assert data["task_id"] == task.id and data["total"] == 45
        assert data["error_report_url"] is None                # not ended: no CSV yet
        seen += data["failures"]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert [f["seq"] for f in seen] == list(range(45))
    first = seen[0]
    assert first["item_id"] == 1000 and first["reason"].startswith("商品 1000")
    assert dt.datetime.fromisoformat(first["finish_time"]).utcoffset() == dt.timedelta(hours=8)
    # Another station's task is not found (404, not 403), for both readers.
    other = make_task(station_id="s002")
    add_failures(other.id, 2)
    status, body = api.get("/task/failures", {"task_id": other.id}, token=station_token)
    assert status == 404 and body["code"] == 40400
    status, body = api.get("/task/failures", {"task_id": other.id}, token=token_for("s002"))
    assert status == 200 and len(body["data"]["failures"]) == 2
    # A task without failures: an empty page.
    clean = make_task()
    _, body = api.get("/task/failures", {"task_id": clean.id}, token=station_token)
    assert body["data"] == {"task_id": clean.id, "total": 0, "failures": [],
                            "next_cursor": None, "error_report_url": None}


@pytest.mark.parametrize("params,fragment", [
    ({}, "task_id"), ({"task_id": "x"}, "task_id"), ({"task_id": 0}, "task_id"),
    ({"task_id": 1, "limit": 101}, "limit"), ({"task_id": 1, "cursor": -1}, "cursor"),
])
def test_bad_failures_parameters_are_400(api, station_token, params, fragment):
    status, body = api.get("/task/failures", params, token=station_token)
    assert status == 400
    assert_refused(body, 40001, fragment)


def test_failures_of_an_ended_task_keep_the_csv_link(api, station_token):
    task = make_task(status=TaskStatus.RUNNING)
    add_failures(task.id, 3)
    key = f"reports/s001/{task.id}/errors-run1.csv"
    services().tasks.finish("s001", task.id, status=TaskStatus.PARTIAL,
                            result={"total": 3, "failed": 3, "error_report_key": key})
    _, body = api.get("/task/failures", {"task_id": task.id}, token=station_token)
    assert body["data"]["error_report_url"].startswith("http") and key in \
        body["data"]["error_report_url"]


def test_eta_of_a_running_task(api, station_token):
    task = make_task(status=TaskStatus.RUNNING)

    def tx(cur: Any) -> None:       # started 10 s ago, 25 of 100 items done since
        cur.execute("UPDATE tbl_async_task SET total_items=100, succeeded_items=25,"
                    " start_time=UTC_TIMESTAMP(3) - INTERVAL 10 SECOND WHERE id=%s",
                    (task.id,))
    services().db.run(tx)
    _, body = api.get("/task/get", {"task_id": task.id}, token=station_token)
    assert 29 <= body["data"]["eta_seconds"] <= 31          # 75 left at 2.5 items/s
    _, body = api.get("/task/list", {}, token=station_token)
    assert 29 <= body["data"]["tasks"][0]["eta_seconds"] <= 31
    done = make_task(status=TaskStatus.FINISHED)
    _, body = api.get("/task/get", {"task_id": done.id}, token=station_token)
    assert body["data"]["eta_seconds"] is None


def test_retry_run_measures_its_own_rate(db_clean):
    """lifecycle.start records what was done when the run began (run_base_done)."""
    from chalicelib.service import lifecycle
    task = make_task(status=TaskStatus.RUNNING)
    assert task.run_base_done == 0
    svc = services()
    svc.db.run(lambda cur: task_repo.update_fields(
        cur, task.id, {"total_items": 100, "succeeded_items": 80, "failed_items": 20}))
    svc.tasks.finish("s001", task.id, status=TaskStatus.PARTIAL)

    def resubmit(cur: Any) -> None:       # what a retry does, 15 of the 20 failures reopened
        locked = task_repo.get(cur, "s001", task.id, for_update=True)
        lifecycle.resubmit(cur, locked, reopened_failed=15)
    svc.db.run(resubmit)
    started = svc.tasks.start("s001", task.id)
    assert started.run_base_done == 85 and started.run_count == 2


# -- ETag / 304 ------------------------------------------------------------------------
def gateway_call(path: str, params: dict, token: str, headers: dict | None = None):
    """(status, headers, body) through LocalGateway in process."""
    from urllib.parse import urlencode
    from chalice.config import Config
    from chalice.local import LocalGateway
    import app as app_module
    gw = LocalGateway(app_module.app, Config(chalice_stage="test"))
    hdrs = {"authorization": f"Bearer {token}", "host": "localhost", **(headers or {})}
    resp = gw.handle_request("GET", f"{path}?{urlencode(params)}", hdrs, b"")
    return resp["statusCode"], resp["headers"], resp["body"]


def test_etag_and_304_on_list_and_get(api, station_token, token_for):
    task = make_task(status=TaskStatus.FINISHED)
    for path, params in (("/task/list", {}), ("/task/get", {"task_id": task.id})):
        status, headers, body = gateway_call(path, params, station_token)
        tag = headers["ETag"]
        assert status == 200 and tag.startswith('W/"')
        assert headers["Cache-Control"] == "private, no-cache"
        assert headers["Vary"] in ("Authorization", "Authorization, Origin")
        status, headers, body = gateway_call(path, params, station_token, {"if-none-match": tag})
        assert status == 304 and not body and headers["ETag"] == tag
        # another station asking with the tag gets its own answer, never a 304
        status, _, _ = gateway_call(path, params, token_for("s002"), {"if-none-match": tag})
        assert status in (200, 404)
        # a change makes a new tag
        services().tasks.clear_show("s001", task_ids=[task.id]) if path == "/task/get" \
            else make_task()
        status, headers, _ = gateway_call(path, params, station_token, {"if-none-match": tag})
        assert status == 200 and headers["ETag"] != tag
    # the parameters are part of the tag
    _, h1, _ = gateway_call("/task/list", {"limit": 5}, station_token)
    _, h2, _ = gateway_call("/task/list", {"limit": 6}, station_token)
    assert h1["ETag"] != h2["ETag"]


def http_get(url: str, token: str, headers: dict | None = None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                               **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_etag_over_http_through_the_local_runtime(running_api, station_token):
    make_task(status=TaskStatus.FINISHED)
    origin = {"Origin": CORS_ORIGIN}
    status, headers, body = http_get(running_api + "/task/list", station_token, origin)
    assert status == 200 and json.loads(body)["code"] == 0
    tag = headers["ETag"]
    assert "ETag" in headers["Access-Control-Expose-Headers"]
    status, headers, body = http_get(running_api + "/task/list", station_token,
                                     {**origin, "If-None-Match": tag})
    assert status == 304 and body == b"" and headers["ETag"] == tag
    # the browser may send If-None-Match cross-origin: the preflight allows it
    req = urllib.request.Request(running_api + "/task/list", method="OPTIONS", headers={
        **origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,if-none-match"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert "If-None-Match" in resp.headers["Access-Control-Allow-Headers"]
