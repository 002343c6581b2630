"""Fault tests of the export on the engine: a worker killed mid-file and the database
restarted mid-file. Either way the task ends finished with one complete file, written by
a later run of its one chunk (the engine's lease expiry, sweeper and redelivery)."""
from __future__ import annotations

import os
import signal
import urllib.parse
from typing import Any

import pytest

from chalicelib.domain.task import TaskStatus
from tests.factories import raw_row
from tests.integration.conftest import http, wait_for
from tests.integration.engine_helpers import app_runtime, chunks
from tests.integration.export_helpers import (URL, csv_rows, download, exported_keys,
                                              seeded_orders, xlsx_rows)

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("empty_exports")]

ORDERS = 12_000                 # 60,000 lines: seconds of work for one worker


@pytest.fixture
def export_runtime(db_clean, stack_env, monkeypatch):
    with app_runtime(monkeypatch, stack_env, 2, LEASE_SECONDS="2", EXPORT_HEARTBEAT_S="0.1",
                     MAX_CHUNK_ATTEMPTS="20", SWEEP_STALE_QUEUED_S="3") as rt:
        yield rt


def start_export(rt: Any, token: str, fmt: str) -> int:
    dates = seeded_orders(ORDERS)
    query = urllib.parse.urlencode({"query_type": 1, "format": fmt, **dates})
    status, resp = http("GET", f"{rt.url}{URL}?{query}", token)
    assert status == 200 and resp["data"]["async"] == 1, resp
    task_id = resp["data"]["task_id"]
    # the file is being written: progress is reported before the last row
    row = wait_for(lambda: (r := raw_row(task_id)).progress > 0 and r, 60, "export progress")
    assert row.status == TaskStatus.RUNNING, "the export ended before the fault"
    return task_id


def assert_one_whole_file(task_id: int, fmt: str) -> None:
    row = wait_for(lambda: (r := raw_row(task_id)).is_final and r, 120, "the export to end")
    assert row.status == TaskStatus.FINISHED, row.reason
    assert row.run_count == 1 and row.result["rows"] == ORDERS * 5
    [chunk] = chunks(task_id)
    assert chunk["attempts"] >= 2, "the fault did not interrupt the run"
    assert exported_keys() == [row.result["file_key"]]
    body = download(_link(row.result["file_key"]))
    rows = csv_rows(body) if fmt == "csv" else xlsx_rows(body)
    assert len(rows) == 1 + ORDERS * 5


def _link(key: str) -> str:
    from chalicelib.bootstrap import services
    return services().files.link(key)


def test_a_worker_killed_mid_export_is_replaced_and_the_file_is_whole(export_runtime,
                                                                       station_token):
    task_id = start_export(export_runtime, station_token, "xlsx")
    killed = 0
    for instance in export_runtime.instances:
        if instance["handler"] == "work":
            os.kill(instance["pid"], signal.SIGKILL)
            killed += 1
    assert killed == 2
    assert_one_whole_file(task_id, "xlsx")


def test_a_database_restart_mid_export_reruns_it(export_runtime, station_token,
                                                 private_mariadb):
    if private_mariadb is None:
        pytest.skip("TEST_DATABASE_URL names a server this suite does not own")
    task_id = start_export(export_runtime, station_token, "xlsx")
    private_mariadb.restart(hard=True)          # SIGKILL: a crash, not a clean stop
    assert_one_whole_file(task_id, "xlsx")
