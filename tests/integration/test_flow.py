"""The whole flow through the local runtime: HTTP API -> SQS -> worker processes -> MySQL.

The runtime runs the real app.py: routes over a socket, the queue worker as separate
processes at its maximum concurrency, and the sweeper on a short interval.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import http, wait_for
from tests.integration.engine_helpers import app_runtime, chunks, details, seed_shops
from chalicelib.domain.task import FINAL_STATUSES


@pytest.fixture
def runtime(db_clean, stack_env, monkeypatch):
    with app_runtime(monkeypatch, stack_env, 3, CHUNK_SIZE="100", CHUNK_WINDOW="2") as rt:
        yield rt


def test_copy_task_end_to_end(runtime, station_token, product_center):
    product_center.configure(latency_ms=5, reject_every=97)
    shops = seed_shops(450)
    status, resp = http("POST", runtime.url + "/station/product/copy_task", station_token,
                        {"source_shop_id": shops["source"], "target_shop_id": shops["target"],
                         "product_ids": shops["product_ids"]})
    assert status == 200, resp
    task_url = runtime.url + resp["data"]["task_url"]

    def final():
        _, got = http("GET", task_url, station_token)
        return got["data"] if got["data"]["status"] in FINAL_STATUSES else None
    task = wait_for(final, 60, "the copy task to finish")
    rejected = [i for i in shops["product_ids"] if i % 97 == 0]
    assert task["status"] == (4 if rejected else 3) and task["progress"] == 100
    assert task["counts"] == {"total": 450, "succeeded": 450 - len(rejected),
                              "failed": len(rejected), "cancelled": 0}
    rows = details(task["task_id"])
    assert [d["seq"] for d in rows] == list(range(450))          # every detail exactly once
    assert len({c["seq"] for c in chunks(task["task_id"])}) == 5
    assert all(c["state"] == 3 for c in chunks(task["task_id"]))
    stats = product_center.stats()
    assert stats["max_creates_per_key"] == 1 and stats["creates"] == 450 - len(rejected)
    if rejected:
        with urllib.request.urlopen(task["result"]["error_report_url"]) as report:
            assert len(report.read().decode("utf-8-sig").strip().splitlines()) == 1 + len(rejected)
    _, listed = http("GET", runtime.url + "/task/list", station_token)
    assert listed["data"]["finish"] is True
    assert listed["data"]["tasks"][0]["task_id"] == task["task_id"]


def test_workers_run_in_separate_processes(runtime):
    workers = [i for i in runtime.instances if i["handler"] == "work"]
    assert len(workers) == 3 and len({w["pid"] for w in workers}) == 3


def test_unauthenticated_request_gets_an_envelope(runtime):
    req = urllib.request.Request(runtime.url + "/task/list")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    body = json.loads(err.value.read())
    assert err.value.code in (401, 403) and body["code"] in (40100, 40300)
