"""An export's lease does not depend on rows arriving. A selective filter over a long
range can scan for longer than LEASE_SECONDS without sending a row; the export must keep
its chunk's lease meanwhile (or the sweeper re-queues it and another worker takes it over):
the engine's LeaseKeeper renews from its own thread while the work is silent."""
from __future__ import annotations

import threading

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.run import RunResult
from tests.factories import raw_row
from chalicelib.domain.task import TaskStatus
from tests.integration.engine_helpers import (acknowledge, chunks, receive_current, services_with,
                                              sweeper)
from tests.integration.export_helpers import export, seeded_orders

pytestmark = pytest.mark.usefixtures("empty_exports")


def test_an_export_keeps_its_claim_while_the_query_sends_nothing(
        api, station_token, database_url, proxy):
    dates = seeded_orders(30)
    status, resp = export(api, station_token, query_type=1, format="csv", **dates)
    assert resp["data"]["async"] == 1, resp
    task_id = resp["data"]["task_id"]
    [message] = receive_current(services())

    lease = dict(lease_seconds=1, export_heartbeat_s=0.2)
    worker = services_with(database_url=proxy.url_for(database_url), **lease)
    other = services_with(**lease)
    # the rows query answers after 4 s; the sweeper looks when it has been silent 2.5 s
    proxy.hold_reply_to(b"SELECT CONCAT_WS(", hold_s=4.0, signal_after_s=2.5)
    outcome: list = []
    run = threading.Thread(target=lambda: outcome.append(
        worker.messages.handle(message["Body"], lambda: 10 ** 9)))
    run.start()
    try:
        assert proxy.signal.wait(30), "the export never sent its query"
        repaired = sweeper(other).sweep()
        assert (repaired.expired_leases, repaired.failed_chunks) == (0, 0), \
            "a live export was taken for dead"
    finally:
        run.join(60)
        acknowledge(services(), message)
    assert outcome == [RunResult.COMPLETE]
    row = raw_row(task_id)
    assert row.status == TaskStatus.FINISHED and row.run_count == 1
    assert [c["attempts"] for c in chunks(task_id)] == [1]
