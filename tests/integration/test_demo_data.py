"""`make run`'s demo data and its printed curl lines (infra/local/demo_orders.py,
demo_requests.py): seeding twice adds nothing, and every printed line, run with curl
against the real app (local runtime with a worker), does what its title says."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.request
from typing import Any

import pytest

from chalicelib.bootstrap import services
from infra.local.demo import seed_demo
from infra.local.demo_orders import DAYS, orders_on, seed_demo_orders
from infra.local.demo_requests import demo_requests
from tests.conftest import served_app
from tests.integration.conftest import http, wait_for

TODAY = dt.date(2026, 12, 2)


def _counts(db: Any) -> dict[str, int]:
    def tx(cur: Any) -> dict[str, int]:
        out = {}
        for table in ("tbl_order", "tbl_order_line", "tbl_time_config", "tbl_shop",
                      "tbl_product"):
            cur.execute(f"SELECT COUNT(*) AS n FROM {table}")
            out[table] = cur.fetchone()["n"]
        return out
    return db.run(tx)


def test_seeding_twice_adds_nothing_and_covers_the_weeks(db_clean: None) -> None:
    db = services().db
    seed_demo(db)
    first = seed_demo_orders(db, today=TODAY)
    after_first = _counts(db)
    seed_demo(db)
    second = seed_demo_orders(db, today=TODAY)
    assert _counts(db) == after_first
    s001 = second["s001"]
    want = sum(orders_on(TODAY - dt.timedelta(days=d)) for d in range(DAYS))
    assert first["s001"].added == want and s001.added == 0 and s001.orders == want
    assert (s001.first_day, s001.last_day) == (TODAY - dt.timedelta(days=DAYS - 1), TODAY)
    assert s001.sync_day == TODAY - dt.timedelta(days=1) and 1 <= s001.sync_day_orders <= 20
    assert s001.time_config_ids == ("s001-tc1", "s001-tc2", "s001-tc3")
    assert second["s002"].orders == want          # the other demo station has its own
    # a later day tops up that day only
    later = seed_demo_orders(db, today=TODAY + dt.timedelta(days=1))["s001"]
    assert later.added == orders_on(TODAY + dt.timedelta(days=1))


def _run_curl(line: str, token: str) -> dict[str, Any]:
    out = subprocess.run(["bash", "-c", line], env={**os.environ, "TOKEN": token},
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def _task(url: str, token: str, task_id: int) -> dict[str, Any]:
    status, body = http("GET", f"{url}/task/get?task_id={task_id}", token)
    assert status == 200, body
    return body["data"]


def _final(url: str, token: str, task_id: int) -> dict[str, Any]:
    return wait_for(lambda: (lambda t: t if t["status"] in (3, 4, 5) else None)(
        _task(url, token, task_id)), 60, f"task {task_id} to end")


def test_every_printed_curl_line_works(db_clean: None, stack_env: dict[str, str],
                                       station_token: str) -> None:
    db = services().db
    shops = seed_demo(db)
    seed_demo_orders(db, today=TODAY)
    station = seed_demo_orders(db, today=TODAY)["s001"]        # the second run's view
    with served_app(stack_env, workers=1) as url:
        lines = {r.path + str(r.query.get("query_type", "")): r.curl(url)
                 for r in demo_requests(station, shops["旗舰店 A"], shops["分店 B"], TODAY)}
        assert len(lines) == 5 and all("$TOKEN" in line for line in lines.values())

        copy = _run_curl(lines["/station/product/copy_task"], station_token)
        assert copy["code"] == 0, copy
        assert _final(url, station_token, copy["data"]["task_id"])["status"] in (3, 4)

        sync = _run_curl(lines["/station/sales_analysis/orderdetail1"], station_token)
        assert sync["code"] == 0 and sync["data"]["async"] == 0, sync
        with urllib.request.urlopen(sync["data"]["link"], timeout=30) as resp:
            assert resp.read(2) == b"PK"                        # an xlsx file

        async_ = _run_curl(lines["/station/sales_analysis/orderdetail2"], station_token)
        assert async_["code"] == 0 and async_["data"]["async"] == 1, async_
        task_id = int(async_["data"]["task_url"].rsplit("=", 1)[1])
        done = _final(url, station_token, task_id)
        assert done["status"] == 3 and done["result"]["link"], done

        imported = _run_curl(lines["/station/order/batch/submit"], station_token)
        assert imported["code"] == 0, imported
        done = _final(url, station_token, imported["data"]["task_id"])
        assert done["status"] == 4 and done["counts"]["succeeded"] == 1, done
        assert done["result"]["error_report_url"]

        listed = _run_curl(lines["/task/list"], station_token)
        assert listed["code"] == 0 and len(listed["data"]["tasks"]) == 3
