"""The task reads the frontend polls (/task/list, /task/get): one statement each, on the
index meant for it (EXPLAIN on the test server), and the list's `finish` flag exact for
every filter, also for an empty page."""
from __future__ import annotations

from typing import Any

import pytest

from bench.api_explain import Recorder
from chalicelib.adapters import task_repo
from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus
from tests.factories import make_task


def statements_and_plan(call) -> tuple[list, list[dict[str, Any]]]:
    def tx(cur: Any) -> tuple[list, list[dict[str, Any]]]:
        rec = Recorder(cur)
        call(rec)
        sql, args = rec.statements[0]
        cur.execute("EXPLAIN " + sql, args)
        return rec.statements, cur.fetchall()
    return services().db.run(tx)


@pytest.mark.parametrize("filters,page_key,busy_key", [
    ({}, "idx_station_shown", "idx_station_shown_status"),
    ({"type_": 2}, "idx_station_shown_type", "idx_station_shown_type_status"),
    ({"status": 3}, "idx_station_shown_status", "idx_station_shown_status"),
    ({"type_": 2, "status": 3}, "idx_station_shown_type_status",
     "idx_station_shown_type_status"),
    ({"cursor": 10**9}, "idx_station_shown", "idx_station_shown_status"),
    ({"type_": 1, "q": "u-"}, "idx_station_shown_type", "idx_station_shown_type_status"),
])
def test_list_is_one_statement_on_its_index(db_clean, filters, page_key, busy_key) -> None:
    for status in (TaskStatus.FINISHED, TaskStatus.RUNNING):
        make_task(status=status, type_=2)
    statements, plan = statements_and_plan(lambda cur: task_repo.list_page(
        cur, task_repo.ListQuery(station_id="s001", limit=20, **filters)))
    assert len(statements) == 1
    keys = {row["key"] for row in plan if row["table"] == "tbl_async_task"}
    # the page and the total on the filter's index (never a walk of the primary key, no
    # sort), the flag on a key with status
    assert {page_key, busy_key} <= keys and "PRIMARY" not in keys, plan
    assert not any("filesort" in (row.get("Extra") or "") for row in plan), plan


def test_get_is_one_statement_on_a_key(db_clean) -> None:
    task = make_task(user_task_id="ut-1")
    for call, key in ((lambda cur: task_repo.get(cur, "s001", task["id"]), "PRIMARY"),
                      (lambda cur: task_repo.get_by_user_task_id(cur, "s001", "ut-1"),
                       "idx_station_user_task")):
        statements, plan = statements_and_plan(call)
        assert len(statements) == 1 and [row["key"] for row in plan] == [key]


def flags(svc, station="s001", **kw):
    page = svc.list(task_repo.ListQuery(station_id=station, **kw))
    return not page.busy, page.rows


def test_finish_flag_for_filters_and_empty_pages(db_clean) -> None:
    svc = services().tasks
    done = make_task(status=TaskStatus.FINISHED, type_=1)
    running = make_task(status=TaskStatus.RUNNING, type_=2)
    make_task(status=TaskStatus.RUNNING, type_=2, message_show=False)   # hidden: ignored
    make_task(station_id="s002", status=TaskStatus.RUNNING, type_=1)    # another station
    finish, tasks = flags(svc, limit=20)
    assert not finish and [t["id"] for t in tasks] == [running["id"], done["id"]]
    assert flags(svc, limit=20, offset=5) == (False, [])           # empty page, busy
    assert flags(svc, type_=1, limit=20) == (True, [svc.get("s001", task_id=done["id"])])
    assert flags(svc, status=3, limit=1)[0] is True
    assert flags(svc, status=2, limit=1)[0] is False
    assert flags(svc, "s003", limit=20) == (True, [])
    finish, tasks = flags(svc, limit=1)
    assert not finish and [t["id"] for t in tasks] == [running["id"]]
