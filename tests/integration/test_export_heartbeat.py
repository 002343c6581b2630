"""An export's heartbeat does not depend on rows arriving. A selective filter over a long
range can scan for longer than LEASE_SECONDS without sending a row; the export must keep
its claim meanwhile (or the sweeper re-sends it and another worker takes it over)."""
from __future__ import annotations

import threading

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.run import RunResult
from chalicelib.service.order_export import TASK_NAME
from tests.factories import raw_row
from tests.integration.engine_helpers import acknowledge, receive_current, services_with
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
    sweeper = services_with(**lease)
    # the rows query answers after 4 s; the sweeper looks when it has been silent 2.5 s
    proxy.hold_reply_to(b"SELECT CONCAT_WS(", hold_s=4.0, signal_after_s=2.5)
    outcome: list = []
    run = threading.Thread(target=lambda: outcome.append(
        worker.messages.handle(message["Body"], lambda: 10 ** 9)))
    run.start()
    try:
        assert proxy.signal.wait(30), "the export never sent its query"
        repaired = sweeper.kind(TASK_NAME).sweep()
        assert repaired == {"resent": 0, "failed": 0}, "a live export was taken for dead"
    finally:
        run.join(60)
        acknowledge(services(), message)
    assert outcome == [RunResult.DONE]
    row = raw_row(task_id)
    assert row.status == 3 and row.run_count == 1
