"""The platform end to end on LocalStack: the template deployed through CloudFormation, the
real app under LocalRuntime (API over HTTP, worker and sweeper processes) using LocalStack's
SQS, S3 and SSM, a real MariaDB and the fake product center.

Run with `make test-localstack`; see tests/e2e/conftest.py.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus
from tests.e2e.conftest import ENDPOINT, OLDEST_MESSAGE_ALARM_S, STAGE, WORKER_TIMEOUT_S
from tests.integration.engine_helpers import (app_runtime, chunks, details, queue_bodies,
                                              seed_shops)
from tests.integration.conftest import http, wait_for

pytestmark = pytest.mark.e2e
FINAL = (3, 4, 5)


def run_copy(rt: Any, token: str, shops: dict[str, Any], n: int) -> dict[str, Any]:
    """POST a copy of the first n products over HTTP; poll the task until it is final."""
    status, resp = http("POST", rt.url + "/station/product/copy_task", token,
                        {"source_shop_id": shops["source"], "target_shop_id": shops["target"],
                         "product_ids": shops["product_ids"][:n]})
    assert status == 200 and resp["code"] == 0, resp
    return wait_for_final(rt, token, resp["data"]["task_url"])


def wait_for_final(rt: Any, token: str, task_url: str, timeout_s: float = 90) -> dict:
    def final() -> dict | None:
        _, got = http("GET", rt.url + task_url, token)
        return got["data"] if got["data"]["status"] in FINAL else None
    return wait_for(final, timeout_s, f"{task_url} to finish")


def download(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def link_ttl_s(url: str) -> float:
    """Seconds a presigned link stays valid (SigV4 X-Amz-Expires or SigV2 Expires)."""
    query = _query(url)
    if "X-Amz-Expires" in query:
        return float(query["X-Amz-Expires"])
    return float(query["Expires"]) - time.time()


def forged(url: str) -> str:
    """The same link with another signature."""
    query = _query(url)
    key = "X-Amz-Signature" if "X-Amz-Signature" in query else "Signature"
    query[key] = ("0" if query[key][0] != "0" else "1") + query[key][1:]
    return urllib.parse.urlsplit(url)._replace(query=urllib.parse.urlencode(query)).geturl()


def assert_all_accounted(task: dict[str, Any], n: int, failed: set[int],
                         product_ids: list[int]) -> None:
    assert task["counts"] == {"total": n, "succeeded": n - len(failed), "failed": len(failed),
                              "cancelled": 0}
    assert task["progress"] == 100
    rows = details(task["task_id"])
    assert [r["seq"] for r in rows] == list(range(n))          # every detail exactly once
    assert [r["item_id"] for r in rows] == product_ids[:n]
    assert {r["item_id"] for r in rows if r["outcome"] != 1} == failed
    assert all(c["state"] == 3 for c in chunks(task["task_id"]))


# -- the stack ------------------------------------------------------------------------------
def test_template_deployed_through_localstack_cloudformation(localstack, stack_outputs,
                                                             alarm_topic_arn):
    stack = localstack.client("cloudformation").describe_stacks(
        StackName=f"async-task-{STAGE}")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    sqs = localstack.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=stack_outputs["WorkQueueUrl"],
                                    AttributeNames=["All"])["Attributes"]
    assert int(work["VisibilityTimeout"]) == 6 * WORKER_TIMEOUT_S
    assert int(work["MessageRetentionPeriod"]) == 345600
    redrive = json.loads(work["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == stack_outputs["DeadLetterQueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    dlq = sqs.get_queue_attributes(QueueUrl=stack_outputs["DeadLetterQueueUrl"],
                                   AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == 1209600

    alarms = {a["AlarmName"]: a for a in localstack.client("cloudwatch").describe_alarms(
        AlarmNames=[stack_outputs["DeadLetterQueueAlarmName"],
                    stack_outputs["OldestMessageAlarmName"]])["MetricAlarms"]}
    dlq_alarm = alarms[stack_outputs["DeadLetterQueueAlarmName"]]
    assert (dlq_alarm["MetricName"], dlq_alarm["Threshold"]) == (
        "ApproximateNumberOfMessagesVisible", 0)
    assert dlq_alarm["Dimensions"] == [{"Name": "QueueName",
                                        "Value": stack_outputs["DeadLetterQueueName"]}]
    age_alarm = alarms[stack_outputs["OldestMessageAlarmName"]]
    assert (age_alarm["MetricName"], age_alarm["Threshold"]) == (
        "ApproximateAgeOfOldestMessage", OLDEST_MESSAGE_ALARM_S)
    assert age_alarm["Dimensions"] == [{"Name": "QueueName",
                                        "Value": stack_outputs["WorkQueueName"]}]
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [alarm_topic_arn] == alarm["OKActions"]

    s3 = localstack.client("s3")
    bucket = stack_outputs["ExportBucketName"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # The lifecycle rules are not asserted here: LocalStack's AWS::S3::Bucket provider (like
    # moto's) ignores LifecycleConfiguration. tests/unit/test_package_check.py checks them
    # in the template, cfn-lint validates them.


# -- the flows ------------------------------------------------------------------------------
@pytest.fixture
def database_url_parameter(localstack, stack_env) -> str:
    """The test database's URL as an SSM SecureString in LocalStack."""
    name = f"/async-task/{STAGE}/database-url-{uuid.uuid4().hex[:8]}"
    localstack.client("ssm").put_parameter(Name=name, Value=stack_env["DATABASE_URL"],
                                           Type="SecureString")
    return name


def test_copy_task_over_http_finishes_with_every_detail(db_clean, stack_env, monkeypatch,
                                                        station_token, product_center,
                                                        database_url_parameter):
    shops = seed_shops(250)
    # The app gets its database URL from LocalStack's SSM, as a deployed stage does.
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="100", DATABASE_URL="",
                     DATABASE_URL_PARAMETER=database_url_parameter) as rt:
        task = run_copy(rt, station_token, shops, 250)
        assert task["status"] == TaskStatus.FINISHED, task
        assert_all_accounted(task, 250, set(), shops["product_ids"])
    assert product_center.stats()["max_creates_per_key"] == 1


def test_error_report_link_downloads_from_localstack_s3(db_clean, stack_env, monkeypatch,
                                                        station_token, product_center):
    product_center.configure(reject_every=7)
    shops = seed_shops(120)
    rejected = {i for i in shops["product_ids"] if i % 7 == 0}
    assert rejected
    with app_runtime(monkeypatch, stack_env, 2, CHUNK_SIZE="50") as rt:
        task = run_copy(rt, station_token, shops, 120)
    assert task["status"] == TaskStatus.PARTIAL, task
    assert_all_accounted(task, 120, rejected, shops["product_ids"])
    url = task["result"]["error_report_url"]
    assert url.startswith(f"{ENDPOINT}/{stack_env['EXPORT_BUCKET']}/reports/")
    assert 0 < link_ttl_s(url) <= 60                     # LINK_TTL_SECONDS of the test env
    status, body = download(url)
    assert status == 200
    lines = body.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 1 + len(rejected)
    assert {int(line.split(",")[1]) for line in lines[1:]} == rejected
    assert download(forged(url))[0] == 403               # the signature is what grants access


def test_sweeper_resends_a_lost_message_and_the_task_completes(api, stack_env, monkeypatch,
                                                               station_token):
    shops = seed_shops(60)
    status, resp = api.post("/station/product/copy_task",
                            {"source_shop_id": shops["source"], "target_shop_id": shops["target"],
                             "product_ids": shops["product_ids"]}, token=station_token)
    assert status == 200, resp
    task_id = resp["data"]["task_id"]
    assert len(queue_bodies(services())) == 1            # the only message ... is lost
    assert [c["state"] for c in chunks(task_id)] == [1]  # queued, and nobody will claim it
    with app_runtime(monkeypatch, stack_env, 1, SWEEP_STALE_QUEUED_S="1") as rt:
        task = wait_for_final(rt, station_token, f"/task/get?task_id={task_id}")
    assert task["status"] == TaskStatus.FINISHED, task
    assert_all_accounted(task, 60, set(), shops["product_ids"])


# -- order export ------------------------------------------------------------------------
def test_order_export_streams_to_localstack_s3_and_downloads_by_its_link(db_clean, stack_env,
                                                                         monkeypatch, station_token):
    import csv
    import io
    from infra.local.seed_orders import seed_orders
    seeded = seed_orders(services().db, "s001", 2000, days=30)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    month_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 40 * 86400))
    query = urllib.parse.urlencode({"query_type": 1, "start_date": month_ago, "end_date": today,
                                    "format": "csv"})
    with app_runtime(monkeypatch, stack_env, 1) as rt:
        status, resp = http("GET", f"{rt.url}/station/sales_analysis/orderdetail?{query}",
                            station_token)
        assert status == 200 and resp["data"]["async"] == 1, resp
        task = wait_for_final(rt, station_token, resp["data"]["task_url"])
    assert task["status"] == TaskStatus.FINISHED and task["type"] == 1
    assert task["result"]["rows"] == seeded.lines
    url = task["result"]["link"]
    assert ENDPOINT.split("://", 1)[1].split(":")[0] in url          # served by LocalStack
    assert "/exports/" in urllib.parse.urlsplit(url).path or "exports%2F" in url
    status, body = download(url)
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 1 + seeded.lines and rows[0][0] == "订单号"
    assert download(forged(url))[0] == 403
