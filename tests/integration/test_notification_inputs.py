"""Bad callback_url values are refused (4xx {code, msg}) by every route that creates a task,
and nothing is created; the task event reaches the stage's EventBridge bus (moto: a rule
routes the bus to an SQS queue the test reads), also under the worker's own IAM policy."""
from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.events import DETAIL_TYPE, SOURCE, EventBus, EventRefused
from chalicelib.domain import callbacks as cb
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import TaskStatus
from chalicelib.service.callback_check import CallbackCheck
from chalicelib.config import Settings
from tests.refusals import assert_refused
from tests.callback_receiver import CallbackReceiver
from tests.integration.engine_helpers import count, drain, seed_shops
from tests.integration.import_helpers import batch, order_row

DEPLOYED_HOSTS = "127.0.0.1,localhost,hooks.example.com,10.1.2.3"
BAD = [("http://hooks.example.com/t", 40010), ("https://u:p@hooks.example.com/t", 40010),
       ("https://elsewhere.example.net/t", 40011), ("https://127.0.0.1:8443/t", 40012),
       ("https://localhost/t", 40012), ("https://10.1.2.3/t", 40012),
       ("ftp://hooks.example.com/t", 40001)]          # not even the schema's syntax


@pytest.fixture
def deployed_stage(monkeypatch, db_clean, stack_env) -> Iterator[None]:
    """A deployed stage's callback rules: https only, no loopback."""
    monkeypatch.setenv("CALLBACK_ALLOW_LOCAL", "0")
    monkeypatch.setenv("CALLBACK_HOSTS", DEPLOYED_HOSTS)
    bootstrap.reset()
    yield
    bootstrap.reset()


def _requests(shops: dict[str, Any], url: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", "/station/product/copy_task", {"source_shop_id": shops["source"],
                                                "target_shop_id": shops["target"],
                                                "product_ids": shops["product_ids"][:2],
                                                "callback_url": url}),
        ("POST", "/station/order/batch/submit", batch([order_row(1)], callback_url=url)),
        ("GET", "/station/sales_analysis/orderdetail", {
            "query_type": 1, "start_date": "2026-03-01", "end_date": "2026-03-31",
            "format": "csv", "callback_url": url}),
    ]


@pytest.mark.parametrize("url,code", BAD)
def test_every_kind_refuses_a_bad_callback_url_and_creates_nothing(deployed_stage, api,
                                                                   station_token, internal_key,
                                                                   url, code):
    shops = seed_shops(2)
    for method, path, payload in _requests(shops, url):
        status, resp = (api.get(path, payload, token=station_token) if method == "GET"
                        else api.post(path, payload, token=station_token))
        assert status == 400, (path, resp)
        assert_refused(resp, code, "callback_url")
    status, resp = api.post("/internal/task/add", {
        "station_id": "s001", "name": "report", "type": 2, "callback_url": url},
        headers={"X-Auth-Key": internal_key})
    assert (status, resp["code"]) == (400, code), resp
    assert count("tbl_async_task") == 0


def test_every_kind_takes_an_allowed_callback_url_and_shows_it(db_clean, api, station_token):
    shops = seed_shops(2)
    url = "http://127.0.0.1:9/hooks/tasks"           # local runs: http and loopback
    method, path, payload = _requests(shops, url)[0]
    status, resp = api.post(path, payload, token=station_token)
    assert status == 200, resp
    assert resp["data"]["task"]["callback_url"] == url
    assert resp["data"]["task"]["notify_attempts"] == 0


def test_a_name_resolving_to_a_private_or_metadata_address_is_refused_at_creation():
    settings = Settings(callback_hosts="*.example.com")
    answers = {"hooks.example.com": ["93.184.216.34"], "vpc.example.com": ["10.0.0.5"],
               "meta.example.com": ["93.184.216.34", "169.254.169.254"],
               "v6.example.com": ["fd12::1"]}

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("Name or service not known")
        return answers[host]
    check = CallbackCheck(settings, resolve=resolve)
    assert check.check("https://hooks.example.com/t") == "https://hooks.example.com/t"
    for host in ("vpc", "meta", "v6", "nowhere"):
        with pytest.raises(cb.CallbackAddressRefused):
            check.check(f"https://{host}.example.com/t")
    with pytest.raises(cb.CallbackHostNotAllowed, match="not enabled"):
        CallbackCheck(Settings(), resolve=resolve).check("https://hooks.example.com/t")


# -- EventBridge ------------------------------------------------------------------------------
@pytest.fixture
def bus(monkeypatch, db_clean, aws, stack_env) -> Iterator[dict[str, Any]]:
    """The stage's bus (from the template) with a rule sending its task events to a fresh
    SQS queue, and the app's settings naming the bus."""
    from chalicelib.adapters.aws import client
    events, sqs = client("events"), client("sqs")
    name = aws["EVENT_BUS_NAME"]
    queue_url = sqs.create_queue(QueueName=f"task-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    rule = f"to-queue-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventBusName=name, EventPattern=json.dumps(
        {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}))
    events.put_targets(Rule=rule, EventBusName=name, Targets=[{"Id": "q", "Arn": arn}])
    for key, value in {"EVENT_BUS_NAME": name, "NOTIFY_RETRY_DELAYS_S": "0,0,0,0,0",
                       "CALLBACK_TIMEOUT_S": "0.5"}.items():
        monkeypatch.setenv(key, value)
    bootstrap.reset()
    try:
        yield {"name": name, "queue_url": queue_url, "sqs": sqs, "events": events}
    finally:
        events.remove_targets(Rule=rule, EventBusName=name, Ids=["q"])
        events.delete_rule(Name=rule, EventBusName=name)
        sqs.delete_queue(QueueUrl=queue_url)
        bootstrap.reset()


def _events(bus: dict[str, Any]) -> list[dict[str, Any]]:
    got = bus["sqs"].receive_message(QueueUrl=bus["queue_url"], MaxNumberOfMessages=10,
                                     WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def test_a_finished_engine_task_is_published_on_the_stages_bus(bus, api, station_token):
    from tests.integration.engine_helpers import create_copy
    svc = bootstrap.services()
    shops = seed_shops(3)
    task = create_copy(svc, shops, shops["product_ids"])       # no callback_url: event only
    drain(svc)
    (event,) = _events(bus)
    assert (event["source"], event["detail-type"]) == ("async-task", "Task Finished")
    detail = event["detail"]
    assert detail["station_id"] == "s001" and len(detail["delivery_id"]) == 32
    status, shown = api.get("/task/get", {"task_id": task.id}, token=station_token)
    assert detail["task"] == shown["data"] and shown["data"]["status"] == TaskStatus.FINISHED
    assert shown["data"]["notify_attempts"] == 0 and shown["data"]["notified_at"] is None


def test_a_failing_put_events_never_fails_the_finish_and_is_retried_then_given_up(
        bus, monkeypatch):
    receiver = CallbackReceiver().start()
    try:
        monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
        bootstrap.reset()
        svc = bootstrap.services()
        from chalicelib.service.tasks import NewTask
        task_id = svc.tasks.create(NewTask(station_id="s001", name="r", type=2, input={},
                                           repeat=True, callback_url=receiver.url)).task.id
        svc.tasks.start("s001", task_id)
        svc.tasks.finish("s001", task_id, status=TaskStatus.FINISHED)
        assert drain(svc) == [RunResult.UNAVAILABLE] * 5 + [RunResult.COMPLETE]
        assert len(receiver.wait_for(1)) == 1          # the webhook went once, on run 1
        row = svc.db.run(lambda cur: (cur.execute(
            "SELECT status, event_state, notify_state, notify_seq, notify_due_at"
            " FROM tbl_async_task WHERE id=%s", (task_id,)), cur.fetchone())[1])
        assert row == {"status": TaskStatus.FINISHED, "event_state": cb.GAVE_UP,
                       "notify_state": cb.DONE, "notify_seq": 6, "notify_due_at": None}
    finally:
        receiver.stop()


def test_the_worker_policy_may_put_events_on_its_own_bus_only(bus, aws):
    from infra.deploy import lambda_policy
    from infra.local import iam
    endpoint = aws["AWS_ENDPOINT_URL"]
    boot = iam.Credentials("boot", "testing", "testing")
    account = boot.client("sts", endpoint).get_caller_identity()["Account"]
    other = f"other-{uuid.uuid4().hex[:6]}"
    boot.client("events", endpoint).create_event_bus(Name=other)
    policy = lambda_policy("test", {"WORK_QUEUE_NAME": aws["WORK_QUEUE_NAME"],
                                    "EXPORT_BUCKET": aws["EXPORT_BUCKET"],
                                    "EVENT_BUS_NAME": bus["name"]},
                           account=account, region="us-east-1")
    iam.scope_resources()
    worker = iam.create_user(boot.client("iam", endpoint), iam.unique("work"), policy)
    events = worker.client("events", endpoint)
    iam.enforce(endpoint)
    try:
        EventBus(bus["name"], events=events).publish({"delivery_id": "d", "task": {}})
        with pytest.raises(EventRefused, match="AccessDenied"):
            EventBus(other, events=events).publish({"delivery_id": "d", "task": {}})
    finally:
        iam.enforce(endpoint, on=False)
    assert [e["detail"]["delivery_id"] for e in _events(bus)] == ["d"]
