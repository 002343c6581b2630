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


@pytest.mark.parametrize("filters,page_key", [
    ({"type_": None, "status": None}, "idx_station_shown"),
    ({"type_": 2, "status": None}, "idx_station_shown"),
    ({"type_": None, "status": 3}, "idx_station_shown_status"),
])
def test_list_is_one_statement_on_its_index(db_clean, filters, page_key) -> None:
    for status in (TaskStatus.FINISHED, TaskStatus.RUNNING):
        make_task(status=status)
    statements, plan = statements_and_plan(lambda cur: task_repo.list_shown(
        cur, "s001", limit=20, offset=0, **filters))
    assert len(statements) == 1
    keys = {row["key"] for row in plan if row["table"] == "tbl_async_task"}
    # the page on its index (never a walk of the primary key), the flag on the status key
    assert page_key in keys and "PRIMARY" not in keys
    if filters["status"] is None:
        assert "idx_station_shown_status" in keys


def test_get_is_one_statement_on_a_key(db_clean) -> None:
    task = make_task(user_task_id="ut-1")
    for call, key in ((lambda cur: task_repo.get(cur, "s001", task.id), "PRIMARY"),
                      (lambda cur: task_repo.get_by_user_task_id(cur, "s001", "ut-1"),
                       "idx_station_user_task")):
        statements, plan = statements_and_plan(call)
        assert len(statements) == 1 and [row["key"] for row in plan] == [key]


def test_finish_flag_for_filters_and_empty_pages(db_clean) -> None:
    svc = services().tasks
    done = make_task(status=TaskStatus.FINISHED, type_=1)
    running = make_task(status=TaskStatus.RUNNING, type_=2)
    make_task(status=TaskStatus.RUNNING, type_=2, message_show=False)   # hidden: ignored
    make_task(station_id="s002", status=TaskStatus.RUNNING, type_=1)    # another station
    finish, tasks = svc.list("s001", limit=20)
    assert not finish and [t.id for t in tasks] == [running.id, done.id]
    assert svc.list("s001", limit=20, offset=5) == (False, [])           # empty page, busy
    assert svc.list("s001", type_=1, limit=20) == (True, [svc.get("s001", task_id=done.id)])
    assert svc.list("s001", status=3, limit=1)[0] is True
    assert svc.list("s001", status=2, limit=1)[0] is False
    assert svc.list("s003", limit=20) == (True, [])
    finish, tasks = svc.list("s001", limit=1)
    assert not finish and [t.id for t in tasks] == [running.id]
