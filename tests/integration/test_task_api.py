"""The public task API over HTTP (through Chalice's LocalGateway and the authorizer)."""
import datetime as dt
import re

import pytest

from chalicelib import bootstrap, texts
from tests.refusals import assert_refused, problem_fields
from chalicelib.domain.task import TaskStatus
from tests.factories import make_task, raw_row


def test_get_by_task_id_and_user_task_id(api, station_token):
    task = make_task(station_id="s001", user_task_id="u-1", name="product_copy")
    status, body = api.get("/task/get", {"task_id": task.id}, token=station_token)
    assert status == 200 and body["code"] == 0 and body["msg"] == ""
    item = body["data"]
    assert item["task_id"] == task.id and item["user_task_id"] == "u-1"
    assert item["task_name"] == "product_copy" and item["status"] == TaskStatus.SUBMITTED
    for field in ("reason", "progress", "type", "result"):
        assert field in item
    status, body = api.get("/task/get", {"user_task_id": "u-1"}, token=station_token)
    assert status == 200 and body["data"]["task_id"] == task.id


def test_task_of_another_station_is_not_found(api, token_for):
    other = make_task(station_id="s002")
    status, body = api.get("/task/get", {"task_id": other.id}, token=token_for("s001"))
    assert status == 404 and body["code"] == 40400
    status, body = api.get("/task/list", {}, token=token_for("s001"))
    assert body["data"]["tasks"] == []
    status, body = api.post("/task/clear_show", {"task_ids": [other.id]}, token=token_for("s001"))
    assert status == 404 and body["code"] == 40400
    status, body = api.get("/task/get", {"task_id": other.id}, token=token_for("s002"))
    assert status == 200 and body["data"]["task_id"] == other.id


@pytest.mark.parametrize("params,field", [
    ({}, ""), ({"task_id": 1, "user_task_id": "x"}, ""),
    ({"task_id": "abc"}, "task_id"), ({"task_id": "-3"}, "task_id"),
    ({"user_task_id": "x" * 65}, "user_task_id")])
def test_get_bad_params(api, station_token, params, field):
    status, body = api.get("/task/get", params, token=station_token)
    assert status == 400
    assert_refused(body, 40001, field)
    if not field:
        assert body["msg"] == texts.EXACTLY_ONE(a="task_id", b="user_task_id")


def test_every_problem_of_a_query_is_listed(api, station_token):
    status, body = api.get("/task/list", {"type": "7", "status": "x", "limit": "0"},
                           token=station_token)
    assert status == 400
    assert_refused(body, 40001, "type", "status", "limit")
    assert texts.MORE_PROBLEMS(count=3) in body["msg"]


def test_list_newest_first_shown_only_with_filters(api, station_token):
    a = make_task(station_id="s001", type_=0)
    b = make_task(station_id="s001", type_=1, status=3)
    c = make_task(station_id="s001", type_=1)
    hidden = make_task(station_id="s001", message_show=False)
    status, body = api.get("/task/list", {}, token=station_token)
    assert status == 200
    ids = [t["task_id"] for t in body["data"]["tasks"]]
    assert ids == [c.id, b.id, a.id] and hidden.id not in ids
    assert body["data"]["finish"] is False
    _, body = api.get("/task/list", {"type": 1}, token=station_token)
    assert [t["task_id"] for t in body["data"]["tasks"]] == [c.id, b.id]
    _, body = api.get("/task/list", {"status": 3}, token=station_token)
    assert [t["task_id"] for t in body["data"]["tasks"]] == [b.id]
    assert body["data"]["finish"] is True


def test_list_finish_true_when_everything_shown_is_done(api, station_token):
    make_task(station_id="s001", status=3)
    make_task(station_id="s001", status=5)
    make_task(station_id="s001", status=2, message_show=False)
    _, body = api.get("/task/list", {}, token=station_token)
    assert body["data"]["finish"] is True and len(body["data"]["tasks"]) == 2


def test_list_pagination_default_and_maximum(api, station_token):
    made = [make_task(station_id="s001").id for _ in range(25)]
    _, body = api.get("/task/list", {}, token=station_token)
    assert len(body["data"]["tasks"]) == 20 and body["data"]["limit"] == 20
    _, body = api.get("/task/list", {"limit": 10, "offset": 20}, token=station_token)
    assert [t["task_id"] for t in body["data"]["tasks"]] == sorted(made, reverse=True)[20:25]
    status, body = api.get("/task/list", {"limit": 101}, token=station_token)
    assert status == 400
    assert_refused(body, 40001, "limit")
    assert body["data"]["errors"][0]["reason"] == texts.AT_MOST(limit=100)
    status, body = api.get("/task/list", {"limit": 0}, token=station_token)
    assert status == 400 and problem_fields(body) == ["limit"]
    status, body = api.get("/task/list", {"type": 7}, token=station_token)
    assert status == 400 and problem_fields(body) == ["type"]


def test_clear_show_hides_by_ids_and_user_ids(api, station_token):
    a = make_task(station_id="s001", status=3)
    b = make_task(station_id="s001", status=3, user_task_id="ub")
    status, body = api.post("/task/clear_show", {"task_ids": [a.id]}, token=station_token)
    assert status == 200 and body == {"code": 0, "msg": "", "data": None}
    status, _ = api.post("/task/clear_show", {"user_task_ids": ["ub"]}, token=station_token)
    assert status == 200
    _, body = api.get("/task/list", {}, token=station_token)
    assert body["data"]["tasks"] == []
    # hidden tasks can still be fetched one by one
    status, _ = api.get("/task/get", {"task_id": b.id}, token=station_token)
    assert status == 200


@pytest.mark.parametrize("payload,fields", [
    ({}, [""]),
    ({"task_ids": [1], "user_task_ids": ["x"]}, [""]),
    ({"task_ids": []}, [""]),
    ({"task_ids": ["1"]}, ["task_ids[0]"]),
    ({"task_ids": [1.5]}, ["task_ids[0]"]),
    ({"task_ids": list(range(1, 502))}, ["task_ids"]),
    ({"task_ids": "1,2"}, ["task_ids"]),
    ({"task_ids": ["1", 0, 3], "user_task_ids": "x"}, ["task_ids[0]", "task_ids[1]",
                                                      "user_task_ids"]),
    ([1, 2], [""]),
])
def test_clear_show_bad_input_changes_nothing(api, station_token, payload, fields):
    task = make_task(station_id="s001", status=3)
    status, body = api.post("/task/clear_show", payload, token=station_token)
    assert status == 400
    assert_refused(body, 40001, *fields)
    _, body = api.get("/task/list", {}, token=station_token)
    assert [t["task_id"] for t in body["data"]["tasks"]] == [task.id]


def test_clear_show_unknown_id_changes_nothing(api, station_token):
    task = make_task(station_id="s001", status=3)
    status, body = api.post("/task/clear_show", {"task_ids": [task.id, task.id + 999]},
                            token=station_token)
    assert status == 404 and body["msg"] == texts.TASKS_NOT_FOUND(count=1)
    assert_refused(body, 40400)
    _, body = api.get("/task/list", {}, token=station_token)
    assert len(body["data"]["tasks"]) == 1


def test_malformed_json_body(api, station_token):
    status, body = api.post_raw("/task/clear_show", b"{not json", token=station_token)
    assert status == 400 and body["code"] == 40002


@pytest.mark.parametrize("token", [None, "garbage", "Bearer x.y.z"])
def test_missing_or_forged_credential(api, token, token_for):
    status, body = api.get("/task/list", {}, token=token, raw_auth=True)
    assert status == 401
    assert_refused(body, 40100)


def test_token_signed_with_other_secret_is_refused(api):
    from chalicelib.api.auth import issue_token
    forged = issue_token("s001", "not-the-secret-" * 3)
    status, body = api.get("/task/list", {}, token=forged)
    assert status in (401, 403) and body["code"] in (40100, 40300)


# -- task times: ISO 8601 with an offset, in the station's zone (China time by default,
# STATION_TIME_ZONE / STATION_TIME_ZONES to configure)
ISO_WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


def _get(api, token_for, station, task_id):
    status, body = api.get("/task/get", {"task_id": task_id},
                           headers={"Authorization": f"Bearer {token_for(station)}"})
    assert status == 200, body
    return body["data"]


def test_task_times_carry_the_china_offset_by_default(api, token_for):
    task = make_task(status=3)
    item = _get(api, token_for, "s001", task.id)
    row = raw_row(item["task_id"])
    for field, column in (("create_time", "creat_time"), ("start_time", "start_time"),
                          ("end_time", "end_time")):
        assert ISO_WITH_OFFSET.fullmatch(item[field]), item[field]
        assert item[field].endswith("+08:00")
        shown = dt.datetime.fromisoformat(item[field])
        stored_utc = getattr(row, column).replace(tzinfo=dt.timezone.utc, microsecond=0)
        assert shown == stored_utc                     # the same instant
        assert shown.hour == (stored_utc.hour + 8) % 24


def test_a_station_can_have_its_own_zone(api, token_for, monkeypatch):
    monkeypatch.setenv("STATION_TIME_ZONES", "s002=Europe/Berlin,s003=+05:30")
    bootstrap.reset()
    for station, offsets in (("s002", ("+01:00", "+02:00")), ("s003", ("+05:30",)),
                             ("s001", ("+08:00",))):
        task = make_task(station_id=station)
        item = _get(api, token_for, station, task.id)
        assert item["create_time"][-6:] in offsets, (station, item["create_time"])
        assert item["start_time"] is None
