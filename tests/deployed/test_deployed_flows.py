"""The deployed platform's flows on LocalStack, from the API Gateway URL `make deploy` printed:
API Gateway -> authorizer + API Lambdas -> MySQL -> SQS -> the worker Lambda through the
event source mapping; the EventBridge rule -> the sweeper Lambda; files in S3.

The two sweeper scenarios (a lost chunk message, a poison message on its way to the DLQ)
are started first and checked last: they wait for SQS redelivery and the once-a-minute
schedule, so the other flows run meanwhile.
"""
from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from chalicelib.bootstrap import services
from tests.deployed.conftest import STAGE, call
from tests.integration.engine_helpers import chunks, details, seed_shops

FINAL = (3, 4, 5)
WORKER_LOG_GROUP = f"/aws/lambda/async-task-{STAGE}-work"
SWEEPER_LOG_GROUP = f"/aws/lambda/async-task-{STAGE}-sweep"


def wait_final(api_url: str, token: str, task_url: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        status, body, _ = call(f"{api_url}{task_url}", token)
        last = body
        if status == 200 and body["data"]["status"] in FINAL:
            return body["data"]
        time.sleep(1.0)          # polling the task through the API, with a deadline
    raise AssertionError(f"{task_url} not final after {timeout_s:.0f}s: {last}")


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:
        assert resp.status == 200
        return resp.read()


def log_text(boto: Any, group: str) -> str:
    logs = boto("logs")
    try:
        events = logs.filter_log_events(logGroupName=group, limit=10000)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return ""
    return "\n".join(e["message"] for e in events)


@pytest.fixture(scope="module")
def background(deployed, stack_env, boto) -> dict[str, Any]:
    """Start both sweeper scenarios; the tests at the end of this module check them."""
    from chalicelib import bootstrap
    from tests.integration.engine_helpers import create_copy
    sqs = boto("sqs")
    # A lost message: the task's only chunk message goes to a queue nobody reads, so its
    # chunk stays queued and unclaimed until the deployed sweeper re-sends it.
    blackhole = sqs.create_queue(QueueName=f"async-task-{STAGE}-blackhole")["QueueUrl"]
    shops = seed_shops(120)
    real_url = stack_env["WORK_QUEUE_URL"]
    import os
    os.environ["WORK_QUEUE_URL"] = blackhole
    bootstrap.reset()
    try:
        lost = create_copy(services(), shops, shops["product_ids"][:120])
    finally:
        os.environ["WORK_QUEUE_URL"] = real_url
        bootstrap.reset()
    assert [c["state"] for c in chunks(lost.id)] == [1]
    # A poison message: the worker cannot route it (MalformedMessage), so every delivery
    # fails, SQS moves it to the DLQ after MaxReceiveCount receives, and the sweeper settles
    # the task it names.
    from tests.conftest import INTERNAL_KEY
    status, body, _ = call_internal(deployed["api_url"], INTERNAL_KEY, "add", {
        "station_id": "s001", "name": "e2e-poison", "type": 2})
    assert status == 200 and body["code"] == 0, body
    poison_task = body["data"]["task_id"]
    sqs.send_message(QueueUrl=real_url, MessageBody=json.dumps(
        {"kind": "e2e-poison", "task_id": poison_task}))
    return {"lost": lost.id, "lost_ids": shops["product_ids"][:120],
            "poison": poison_task, "started": time.monotonic()}


def call_internal(api_url: str, key: str, action: str, body: dict) -> tuple[int, dict, dict]:
    req = urllib.request.Request(f"{api_url}/internal/task/{action}", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "X-Auth-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), dict(err.headers)


def test_sweeper_scenarios_start(background):
    assert background["lost"] and background["poison"]


def test_copy_of_5000_items_through_the_deployed_lambdas(deployed, station_token, boto,
                                                         product_center):
    shops = seed_shops(5000)
    ids = shops["product_ids"][:5000]
    started = time.monotonic()
    status, body, _ = call(f"{deployed['api_url']}/station/product/copy_task", station_token,
                           "POST", {"source_shop_id": shops["source"],
                                    "target_shop_id": shops["target"], "product_ids": ids})
    assert status == 200 and body["code"] == 0, body
    task = wait_final(deployed["api_url"], station_token, body["data"]["task_url"], 240)
    took = time.monotonic() - started
    print(f"5000-item copy through API Gateway + Lambda: {took:.1f}s")
    assert task["status"] == 3, task
    assert task["counts"] == {"total": 5000, "succeeded": 5000, "failed": 0, "cancelled": 0}
    rows = details(task["task_id"])
    assert [r["seq"] for r in rows] == list(range(5000))         # every item exactly once
    assert [r["item_id"] for r in rows] == ids
    assert {r["outcome"] for r in rows} == {1}
    assert all(c["state"] == 3 for c in chunks(task["task_id"]))
    assert product_center.stats()["max_creates_per_key"] == 1
    # The work ran in the worker Lambda (its CloudWatch log group has the task's chunks).
    assert f'"task_id":{task["task_id"]}' in log_text(boto, WORKER_LOG_GROUP).replace(" ", "")


def test_order_import_with_bad_rows_ends_4_with_its_error_report(deployed, station_token):
    from chalicelib.adapters import order_repo
    import datetime as dt
    services().db.run(lambda cur: order_repo.upsert_time_config(
        cur, "s001", "s001-tc-deployed", "默认运营时间", dt.time(18, 0)))
    good = {"customer_name": "客户1", "address": "北京市海淀区中关村大街1号", "area": "海淀",
            "order_time": "2026-11-27 19:30:00", "receive_time": "2026-11-28 08:00:00",
            "lines": [{"sku": "SKU-APPLE", "name": "苹果", "unit": "斤", "quantity": "2.5",
                       "unit_price": "6.80"}]}
    rows = [good, {**good, "receive_time": "2026/11/28"}, "not an order", {**good, "lines": []}]
    status, body, _ = call(f"{deployed['api_url']}/station/order/batch/submit", station_token,
                           "POST", {"task_id": f"deployed-import-{time.time_ns()}",
                                    "time_config_id": "s001-tc-deployed", "order_data": rows,
                                    "file_name": "订单导入.xlsx"})
    assert status == 200 and body["code"] == 0, body
    task = wait_final(deployed["api_url"], station_token, body["data"]["task_url"], 120)
    assert task["status"] == 4, task
    assert task["counts"] == {"total": 4, "succeeded": 1, "failed": 3, "cancelled": 0}
    report = list(csv.reader(io.StringIO(
        download(task["result"]["error_report_url"]).decode("utf-8-sig"))))
    assert [row[1] for row in report[1:]] == ["2", "3", "4"]       # the bad rows, by number


def test_async_order_export_lands_in_s3_and_downloads(deployed, station_token):
    from infra.local.seed_orders import seed_orders
    seeded = seed_orders(services().db, "s001", 600, days=30)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    month_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 40 * 86400))
    query = urllib.parse.urlencode({"query_type": 1, "start_date": month_ago,
                                    "end_date": today, "format": "csv"})
    status, body, _ = call(f"{deployed['api_url']}/station/sales_analysis/orderdetail?{query}",
                           station_token)
    assert status == 200 and body["data"]["async"] == 1, body
    task = wait_final(deployed["api_url"], station_token, body["data"]["task_url"], 120)
    assert task["status"] == 3 and task["type"] == 1, task
    rows = list(csv.reader(io.StringIO(download(task["result"]["link"]).decode("utf-8-sig"))))
    assert rows[0][0] == "订单号" and len(rows) == 1 + task["result"]["rows"]
    assert task["result"]["rows"] >= seeded.lines


def test_the_schedule_fires_the_sweeper_which_resends_the_lost_message(
        background, deployed, station_token, boto):
    task = wait_final(deployed["api_url"], station_token,
                      f"/task/get?task_id={background['lost']}", 180)
    assert task["status"] == 3, task
    rows = details(background["lost"])
    assert [r["item_id"] for r in rows] == background["lost_ids"]
    assert all(c["state"] == 3 for c in chunks(background["lost"]))
    # the EventBridge rule ran the sweeper: its invocation logs reach CloudWatch Logs a moment
    # after the invocation ends (the executor posts them), so poll for them with a deadline
    deadline = time.monotonic() + 60
    while not log_text(boto, SWEEPER_LOG_GROUP) and time.monotonic() < deadline:
        time.sleep(1)
    assert log_text(boto, SWEEPER_LOG_GROUP)


def test_a_poison_message_reaches_the_dlq_and_the_sweeper_ends_its_task(
        background, deployed, station_token, stack_env, boto):
    from chalicelib.service.dead_letters import DEAD_LETTER_REASON
    task = wait_final(deployed["api_url"], station_token,
                      f"/task/get?task_id={background['poison']}", 300)
    assert task["status"] == 5 and task["reason"] == DEAD_LETTER_REASON, task
    dlq = boto("sqs").get_queue_attributes(QueueUrl=stack_env["DLQ_URL"],
                                           AttributeNames=["ApproximateNumberOfMessages"])
    assert int(dlq["Attributes"]["ApproximateNumberOfMessages"]) >= 1
    print(f"poison message settled {time.monotonic() - background['started']:.0f}s after it "
          "was sent")
