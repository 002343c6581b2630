"""The local stack itself: private MariaDB, moto + the CloudFormation template, and the
Lambda-like runtime driving tests/integration/sample_app.py (not the real app).

Every wait polls a real condition (a file, a port, a PID) under a deadline.
"""
from __future__ import annotations

import http.client as http_client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pymysql
import pytest

from chalice import Rate
from chalice.app import Cron
from infra.local import aws, mariadb
from infra.local.aws import env_for, provision, start_moto
from infra.local.gateway import error_body
from infra.local.mariadb import MariaDB
from infra.local.runtime import LocalRuntime, function_config, schedule_seconds

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = "tests.integration.sample_app:app"
STAGE = "itest-local"
WORKER_TIMEOUT_S = 2          # lambda_timeout of the sample worker in these tests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_for(condition: Callable[[], Any], timeout_s: float = 15.0, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what or condition}")
        time.sleep(0.05)    # poll interval, not a synchronisation


def pid_alive(pid: int) -> bool:
    return mariadb._pid_alive(pid)


# -- MariaDB -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def db_server(tmp_path_factory) -> Iterator[MariaDB]:
    server = MariaDB(tmp_path_factory.mktemp("mariadb") / "data", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_mariadb_starts_on_private_port_and_answers(db_server: MariaDB) -> None:
    assert db_server.url("x") == f"mysql://root@127.0.0.1:{db_server.port}/x"
    conn = pymysql.connect(host="127.0.0.1", port=db_server.port, user="root", password="")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT 1 + 1, VERSION(), @@character_set_server")
        two, version, charset = cur.fetchone()
    assert two == 2 and "MariaDB" in version and charset == "utf8mb4"
    assert db_server.status()["running"] and db_server.status()["pid"] == db_server.pid


def test_mariadb_create_database_is_idempotent_utf8mb4(db_server: MariaDB) -> None:
    assert db_server.create_database("stack_idem") == db_server.url("stack_idem")
    db_server.create_database("stack_idem")
    with db_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA"
                    " WHERE SCHEMA_NAME = %s", ("stack_idem",))
        assert cur.fetchone() == ("utf8mb4",)
    with pytest.raises(ValueError):
        db_server.create_database("bad`name")


def test_mariadb_second_handle_adopts_running_server(db_server: MariaDB) -> None:
    other = MariaDB(db_server.datadir, db_server.port).start()
    assert other.pid == db_server.pid and other._proc is None


def test_mariadb_restart_keeps_data(db_server: MariaDB) -> None:
    db_server.create_database("stack_restart")
    with db_server.connect("stack_restart") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("REPLACE INTO t VALUES (1, '数据')")
    old_pid = db_server.pid
    db_server.restart()
    assert db_server.pid != old_pid and not pid_alive(old_pid)
    with db_server.connect("stack_restart") as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM t WHERE id = 1")
        assert cur.fetchone() == ("数据",)


def test_mariadb_stop_releases_port_and_starts_again(db_server: MariaDB) -> None:
    pid = db_server.pid
    db_server.stop()
    assert not pid_alive(pid) and port_is_free(db_server.port)
    assert not db_server.status()["running"] and not db_server.pid_file.exists()
    db_server.start()           # warm start on the same datadir
    assert db_server.last_start_initialised is False
    with db_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")


def test_mariadb_cli_status_start_stop(db_server: MariaDB) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "infra.local.mariadb", *args,
                               "--datadir", str(db_server.datadir),
                               "--port", str(db_server.port)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    status = cli("status")
    assert status.returncode == 0 and f"pid {db_server.pid}" in status.stdout
    started = cli("start")
    assert started.returncode == 0 and "already running" in started.stdout


def test_ensure_installed_runs_apt_get_when_missing(tmp_path, monkeypatch) -> None:
    calls = tmp_path / "apt-calls"
    fake_apt = tmp_path / "apt-get"
    fake_apt.write_text(f"#!/bin/sh\necho \"$DEBIAN_FRONTEND $*\" >> {calls}\n")
    fake_apt.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    installed = lambda name: (f"/fake/{name}"   # noqa: E731
                              if calls.exists() and "install" in calls.read_text() else None)
    monkeypatch.setattr(mariadb, "_binary", installed)
    mariadb.ensure_installed()
    lines = calls.read_text().splitlines()
    assert lines[0] == "noninteractive update -q"
    assert lines[1].startswith("noninteractive install -y")
    assert lines[1].endswith("mariadb-server-core mariadb-client-core")


# -- moto + the template -------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    handle = start_moto()
    try:
        yield handle.endpoint_url
    finally:
        handle.stop()


def _client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_template_is_cfn_lint_clean() -> None:
    api = pytest.importorskip("cfnlint.api")
    assert [str(m) for m in api.lint_file(aws.TEMPLATE_PATH)] == []


def test_provision_creates_queues_and_bucket(moto_endpoint: str) -> None:
    outputs = provision(moto_endpoint, STAGE)
    assert outputs["WorkQueueName"] == f"async-task-{STAGE}-work"
    assert outputs["DeadLetterQueueName"] == f"async-task-{STAGE}-work-dlq"
    assert outputs["ExportBucketName"] == f"async-task-{STAGE}-exports-123456789012"
    sqs = _client("sqs", moto_endpoint)
    work = sqs.get_queue_attributes(QueueUrl=outputs["WorkQueueUrl"],
                                    AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=outputs["DeadLetterQueueUrl"],
                                   AttributeNames=["All"])["Attributes"]
    assert work["VisibilityTimeout"] == "1800"       # 6 x the 300 s worker timeout
    assert work["QueueArn"] == outputs["WorkQueueArn"]
    assert json.loads(work["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"],
                                                 "maxReceiveCount": 5}
    assert dlq["MessageRetentionPeriod"] == str(14 * 86400)
    s3 = _client("s3", moto_endpoint)
    encryption = s3.get_bucket_encryption(Bucket=outputs["ExportBucketName"])
    rule = encryption["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # provisioning again is a no-op that answers the same outputs
    assert provision(moto_endpoint, STAGE) == outputs


def test_provision_derives_visibility_from_worker_timeout(moto_endpoint: str) -> None:
    outputs = provision(moto_endpoint, "itest-six", parameters={"WorkerTimeoutSeconds": 20,
                                                                 "MaxReceiveCount": 3})
    sqs = _client("sqs", moto_endpoint)
    attrs = sqs.get_queue_attributes(QueueUrl=outputs["WorkQueueUrl"],
                                     AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "120"
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 3


def test_env_for_maps_outputs_to_app_variables(moto_endpoint: str) -> None:
    outputs = provision(moto_endpoint, STAGE)
    env = env_for(outputs, endpoint_url=moto_endpoint, region="us-east-1")
    assert env["WORK_QUEUE_NAME"] == outputs["WorkQueueName"]
    assert env["WORK_QUEUE_URL"] == outputs["WorkQueueUrl"]
    assert env["DLQ_URL"] == outputs["DeadLetterQueueUrl"]
    assert env["EXPORT_BUCKET"] == outputs["ExportBucketName"]
    assert env["AWS_ENDPOINT_URL"] == moto_endpoint and env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_provision_cli_prints_outputs(moto_endpoint: str) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(key, None)      # the CLI must fall back to dummy credentials itself
    done = subprocess.run([sys.executable, "-m", "infra.local.aws", "provision",
                           "--stage", "itest-cli"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["WorkQueueName"] == "async-task-itest-cli-work"


# -- the runtime ---------------------------------------------------------------------------
def test_function_config_follows_chalice_lookup_order() -> None:
    cfg = {"lambda_timeout": 11, "stages": {"s": {
        "lambda_timeout": 22, "lambda_functions": {"w": {"lambda_timeout": 33}}}}}
    assert function_config(cfg, "s", "w").lambda_timeout == 33
    assert function_config(cfg, "s", "other").lambda_timeout == 22
    assert function_config(cfg, "t", "w").lambda_timeout == 11
    assert function_config({}, "s", "w").lambda_timeout is None     # runtime uses 60


def test_schedule_expressions() -> None:
    assert schedule_seconds("rate(1 minute)") == 60
    assert schedule_seconds("rate(5 minutes)") == 300
    assert schedule_seconds("rate(2 hours)") == 7200
    assert schedule_seconds("rate(1 day)") == 86400
    assert schedule_seconds(Rate(1, unit=Rate.MINUTES)) == 60
    assert schedule_seconds(Rate(3, unit=Rate.HOURS)) == 10800
    assert schedule_seconds(Cron(0, 10, "*", "*", "?", "*")) is None


@pytest.fixture(scope="module")
def sample_queue(moto_endpoint: str) -> dict[str, str]:
    name = f"sample-{uuid.uuid4().hex[:8]}"
    url = _client("sqs", moto_endpoint).create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    return {"name": name, "url": url}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sample-out")


@pytest.fixture(scope="module")
def runtime(moto_endpoint: str, sample_queue: dict[str, str],
            out_dir: Path) -> Iterator[LocalRuntime]:
    env = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "SAMPLE_QUEUE_NAME": sample_queue["name"], "SAMPLE_OUT_DIR": str(out_dir)}
    chalice_config = {"stages": {STAGE: {"lambda_functions": {
        "consume": {"lambda_timeout": WORKER_TIMEOUT_S}}}}}
    with LocalRuntime(SAMPLE_APP, stage=STAGE, port=0, env=env, project_dir=ROOT,
                      schedule_interval_s=0.5, chalice_config=chalice_config,
                      access_log=False, stop_grace_s=1.0) as rt:
        yield rt


def http(rt: LocalRuntime, path: str, method: str = "GET",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(rt.url + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_route_with_good_token(runtime: LocalRuntime) -> None:
    assert runtime.port != 0 and runtime.url.endswith(f":{runtime.port}")
    status, body = http(runtime, "/hello", headers={"Authorization": "good"})
    assert status == 200 and body["hello"] == "tester"


@pytest.mark.parametrize("headers,status,code", [
    ({}, 401, 40100),                            # no credential at all
    ({"Authorization": "bad"}, 403, 40300),      # the authorizer denies
])
def test_route_refused_by_authorizer(runtime: LocalRuntime, headers, status, code) -> None:
    got_status, body = http(runtime, "/hello", headers=headers)
    assert got_status == status and body["code"] == code and body["msg"]
    assert body == json.loads(error_body(status))      # the bodies production answers


def test_unknown_route_and_method(runtime: LocalRuntime) -> None:
    status, body = http(runtime, "/no/such/thing", headers={"Authorization": "good"})
    assert status == 404 and body["code"] == 40400
    status, body = http(runtime, "/hello", method="DELETE")
    assert status == 405 and body["code"] == 40500
    status, body = http(runtime, "/open/abc", method="POST")
    assert status == 200 and body["name"] == "abc"


@pytest.mark.parametrize("method", ["DELETE", "TRACE", "PROPFIND", "HEAD"])
def test_undeclared_method_is_405_with_allow(runtime: LocalRuntime, method: str) -> None:
    """Any method a route does not declare, not only those http.server knows (no 501 page)."""
    conn = http_client.HTTPConnection("127.0.0.1", runtime.port, timeout=10)
    conn.request(method, "/hello")
    resp = conn.getresponse()
    raw = resp.read()
    assert resp.status == 405 and resp.getheader("Allow") == "GET"
    assert resp.getheader("Content-Type").startswith("application/json")
    if method != "HEAD":
        assert json.loads(raw) == json.loads(error_body(405))
    conn.close()


def _send(sqs_url: str, endpoint: str, body: str) -> str:
    return _client("sqs", endpoint).send_message(QueueUrl=sqs_url, MessageBody=body)["MessageId"]


def _result(out_dir: Path, message_id: str) -> dict[str, Any] | None:
    path = out_dir / f"msg-{message_id}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _attempts(out_dir: Path, body: str) -> list[dict[str, Any]]:
    path = out_dir / "attempts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [a for a in map(json.loads, lines) if a["body"] == body]


def test_sqs_messages_run_in_worker_processes(runtime: LocalRuntime, sample_queue,
                                             moto_endpoint: str, out_dir: Path) -> None:
    workers = [i for i in runtime.instances if i["handler"] == "consume"]
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 2   # maximum_concurrency
    ids = [_send(sample_queue["url"], moto_endpoint, f"hello-{n}") for n in range(6)]
    results = [wait_for(lambda i=i: _result(out_dir, i), what=f"message {i}") for i in ids]
    pids = {r["pid"] for r in results}
    assert os.getpid() not in pids and pids <= {w["pid"] for w in workers}
    for result in results:
        assert result["event_source"] == "aws:sqs" and result["receive_count"] == 1
        assert result["queue_arn"].endswith(":" + sample_queue["name"])
        assert result["function_name"] == f"sample-{STAGE}-consume"
        assert 0 < result["remaining_ms"] <= WORKER_TIMEOUT_S * 1000   # configured timeout
    # deleted on success: nothing left in the queue
    attrs = _client("sqs", moto_endpoint).get_queue_attributes(
        QueueUrl=sample_queue["url"], AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_failed_message_is_left_for_redelivery(runtime: LocalRuntime, sample_queue,
                                               moto_endpoint: str, out_dir: Path) -> None:
    body = f"fail-once:{uuid.uuid4().hex[:6]}"
    message_id = _send(sample_queue["url"], moto_endpoint, body)
    result = wait_for(lambda: _result(out_dir, message_id), what="the redelivery")
    assert result["receive_count"] == 2
    assert [a["receive_count"] for a in _attempts(out_dir, body)] == [1, 2]


def test_message_keeps_coming_back_while_it_fails(runtime: LocalRuntime, sample_queue,
                                                  moto_endpoint: str, out_dir: Path) -> None:
    body = f"fail-until:3:{uuid.uuid4().hex[:6]}"
    message_id = _send(sample_queue["url"], moto_endpoint, body)
    result = wait_for(lambda: _result(out_dir, message_id), what="the fourth delivery")
    assert result["receive_count"] == 4
    assert [a["receive_count"] for a in _attempts(out_dir, body)] == [1, 2, 3, 4]


def test_schedule_fires_on_override_interval(runtime: LocalRuntime, out_dir: Path) -> None:
    ticks = out_dir / "ticks.log"
    lines = wait_for(lambda: ticks.exists() and len(ticks.read_text().splitlines()) >= 2
                     and ticks.read_text().splitlines(), what="two ticks")
    schedule_pids = {i["pid"] for i in runtime.instances if i["kind"] == "schedule"}
    for line in lines[:2]:
        pid, detail_type = line.split(" ")[0], " ".join(line.split(" ")[1:3])
        assert int(pid) in schedule_pids and int(pid) != os.getpid()
        assert detail_type == "Scheduled Event"


@pytest.mark.faults
def test_invocation_past_timeout_ends_instance_and_message_returns(
        runtime: LocalRuntime, sample_queue, moto_endpoint: str, out_dir: Path) -> None:
    body = f"sleep-once:{WORKER_TIMEOUT_S + 3}:{uuid.uuid4().hex[:6]}"
    message_id = _send(sample_queue["url"], moto_endpoint, body)
    first = wait_for(lambda: _attempts(out_dir, body), what="the first attempt")[0]
    result = wait_for(lambda: _result(out_dir, message_id), what="the redelivered success")
    assert result["receive_count"] >= 2
    # the timed-out instance was ended and replaced by a fresh one
    wait_for(lambda: not pid_alive(first["pid"]), what="the timed-out instance to end")
    wait_for(lambda: len([i for i in runtime.instances if i["handler"] == "consume"]) == 2
             and first["pid"] not in {i["pid"] for i in runtime.instances},
             what="a replacement instance")


@pytest.mark.faults
def test_killed_worker_is_replaced(runtime: LocalRuntime, sample_queue,
                                   moto_endpoint: str, out_dir: Path) -> None:
    victim = next(i["pid"] for i in runtime.instances if i["handler"] == "consume")
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in {i["pid"] for i in runtime.instances}
             and len([i for i in runtime.instances if i["handler"] == "consume"]) == 2,
             what="a replacement instance")
    message_id = _send(sample_queue["url"], moto_endpoint, "after-kill")
    assert wait_for(lambda: _result(out_dir, message_id))["pid"] != victim


def test_instances_die_with_their_parent(moto_endpoint: str, sample_queue,
                                         tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import json, sys
        from infra.local.runtime import LocalRuntime
        env = {{"AWS_ENDPOINT_URL": {moto_endpoint!r}, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "SAMPLE_QUEUE_NAME": {sample_queue["name"]!r},
               "SAMPLE_OUT_DIR": {str(tmp_path)!r}}}
        rt = LocalRuntime({SAMPLE_APP!r}, stage={STAGE!r}, env=env, http=False,
                          project_dir={str(ROOT)!r}).start()
        print(json.dumps([i["pid"] for i in rt.instances]), flush=True)
        sys.stdin.read()   # parked until the test kills this process
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        children = json.loads(parent.stdout.readline())
        assert len(children) == 3 and all(pid_alive(p) for p in children)
        parent.kill()               # SIGKILL: no chance to stop its children
        parent.wait(10)
        wait_for(lambda: not any(pid_alive(p) for p in children), timeout_s=10,
                 what="orphaned instances to exit")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
