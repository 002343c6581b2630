"""#13 item 11: task times are ISO 8601 with an offset, in the station's zone (China time
by default, STATION_TIME_ZONE / STATION_TIME_ZONES to configure)."""
from __future__ import annotations

import datetime as dt
import re

from chalicelib import bootstrap
from tests.factories import make_task, raw_row

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


def test_the_operator_cli_marks_its_times_as_utc(db_clean):
    from chalicelib.cli import _json_default, _when
    task = make_task()
    created = raw_row(task.id).creat_time
    assert _when(created).endswith("Z")
    assert dt.datetime.fromisoformat(_json_default(created)).utcoffset() == dt.timedelta(0)
