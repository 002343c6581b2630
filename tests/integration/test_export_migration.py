"""Migration 0013: exports created before they ran on the engine (no chunk plan, the order
count as total_items) get their one-item plan, and the message the previous release queued
for them ({"kind": "export", "task_id"}) runs that plan."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import task_repo
from chalicelib.bootstrap import services
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import TaskStatus
from chalicelib.service import lifecycle
from tests.factories import raw_row
from tests.integration.engine_helpers import chunks, queue_bodies
from tests.integration.export_helpers import export, exported_keys, seeded_orders

pytestmark = pytest.mark.usefixtures("empty_exports")

MIGRATION = Path(__file__).resolve().parents[2] / "infra" / "migrations" / "0013.export_on_engine.sql"


def as_before_the_migration(task_id: int, total_items: int) -> None:
    """The task as the previous release stored it: no chunk plan, orders as its total."""
    def tx(cur: Any) -> None:
        cur.execute("DELETE FROM tbl_task_chunk WHERE task_id=%s", (task_id,))
        cur.execute("UPDATE tbl_async_task SET total_items=%s WHERE id=%s", (total_items, task_id))
    services().db.run(tx)


def apply_migration() -> None:
    statements = [s for s in MIGRATION.read_text().split(";")
                  if any(line.strip() and not line.strip().startswith("--")
                         for line in s.splitlines())]
    assert len(statements) == 2

    def tx(cur: Any) -> None:
        for sql in statements:
            cur.execute(sql)
    services().db.run(tx)


def test_an_export_of_the_previous_release_gets_its_plan_and_its_old_message_runs_it(
        api, station_token):
    dates = seeded_orders(25)
    _, resp = export(api, station_token, query_type=1, format="csv", **dates)
    old = resp["data"]["task_id"]
    _, resp = export(api, station_token, query_type=1, format="csv", **dates)
    finished = resp["data"]["task_id"]
    svc = services()
    queue_bodies(svc)
    as_before_the_migration(old, 25)
    as_before_the_migration(finished, 25)
    svc.db.run(lambda cur: lifecycle.finish(                     # ended before the upgrade
        cur, task_repo.get_any_station(cur, finished, for_update=True), TaskStatus.FAILED,
        reason="ended"))

    apply_migration()
    assert [(c["seq"], c["state"], c["attempts"]) for c in chunks(old)] == [(0, 0, 0)]
    assert raw_row(old).total_items == 1
    assert chunks(finished) == [] and raw_row(finished).total_items == 25
    apply_migration()                                           # a re-run changes nothing
    assert len(chunks(old)) == 1

    body = json.dumps({"kind": "export", "task_id": old})
    assert svc.messages.handle(body, lambda: 10 ** 9) == RunResult.COMPLETE
    row = raw_row(old)
    assert row.status == TaskStatus.FINISHED and row.result["rows"] == 125
    assert exported_keys() == [f"exports/s001/{old}/orderdetail.csv"]
