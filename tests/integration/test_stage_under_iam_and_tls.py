"""The flows as a deployed stage runs them: IAM enforced by moto, each function with its
own credentials carrying exactly the generated policy, every secret read from SSM, and
MySQL a MariaDB that refuses anything but verified TLS (require_secure_transport=ON, a
certificate made here), whose password is rotated in the middle of a copy.

The runtime's API (front process and API instances), worker and sweeper each get their
function's access key (LocalRuntime function_env), as each Lambda gets its role's; the test
itself acts as an administrator for what an operator or AWS would do (put parameters,
inject a dead letter, rotate the password).
"""
from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any, Iterator

import pymysql
import pytest

from chalicelib.domain.task import TaskStatus
from infra.deploy import lambda_policy
from infra.iam_policy import operator_policy
from infra.local import iam
from infra.local.mariadb import MariaDB
from infra.local.runtime import LocalRuntime
from tests.conftest import INTERNAL_KEY, TOKEN_SECRET, free_port
from tests.integration.conftest import http, wait_for
from tests.integration.tls_certs import make_certs

STAGE = "test"
DB = "async_task_tls"
FUNCTIONS = ("api_handler", "work", "sweep")      # station_auth runs in the API's front
PARAMETERS = {"DATABASE_URL_PARAMETER": f"/async-task/{STAGE}/database-url",
              "TOKEN_SECRET_PARAMETER": f"/async-task/{STAGE}/token-secret",
              "INTERNAL_AUTH_KEY_PARAMETER": f"/async-task/{STAGE}/internal-auth-key",
              "PRODUCT_CENTER_URL_PARAMETER": f"/async-task/{STAGE}/product-center-url"}
_TABLES = ("tbl_task_detail", "tbl_task_chunk", "tbl_async_task", "tbl_product", "tbl_shop",
           "tbl_order_line", "tbl_order", "tbl_time_config", "tbl_order_import_part")


class _Tls:
    def __init__(self, tmp: Path) -> None:
        self.certs = make_certs(tmp / "certs")
        ctx = ssl.create_default_context(cafile=str(self.certs.ca))
        c = self.certs
        self.server = MariaDB(tmp / "data", free_port(), client_ssl=ctx, server_args=(
            f"--ssl-ca={c.ca}", f"--ssl-cert={c.cert}", f"--ssl-key={c.key}",
            "--require-secure-transport=ON", "--innodb-buffer-pool-size=64M"))

    def app_url(self, password: str, mode: str = "VERIFY_IDENTITY", ca: Path | None = None) -> str:
        ca = ca or self.certs.ca
        return (f"mysql://app:{password}@127.0.0.1:{self.server.port}/{DB}"
                f"?ssl-mode={mode}&ssl_ca={ca}")


@pytest.fixture(scope="module")
def tls_db(tmp_path_factory) -> Iterator[_Tls]:
    from infra.migrate import migrate
    tls = _Tls(tmp_path_factory.mktemp("tls-mariadb"))
    tls.server.start()
    try:
        tls.server.create_database(DB)
        with tls.server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER 'app'@'%' IDENTIFIED BY 'first-pass-1'")
            cur.execute(f"GRANT ALL ON {DB}.* TO 'app'@'%'")
        # the unix socket counts as secure transport: migrations run as root through it
        migrate(f"mysql://root@localhost/{DB}?unix_socket={tls.server.socket}")
        yield tls
    finally:
        tls.server.stop()


@pytest.fixture(scope="module")
def prod(tls_db: _Tls, stack_env: dict[str, str], product_center: Any) -> Iterator[dict]:
    """Users per function, enforcement on, secrets in SSM, the runtime on the TLS server."""
    from chalicelib import bootstrap
    endpoint = stack_env["AWS_ENDPOINT_URL"]
    boot = iam.Credentials("boot", "testing", "testing")       # before enforcement
    names = {"WORK_QUEUE_NAME": stack_env["WORK_QUEUE_NAME"],
             "DEAD_LETTER_QUEUE_NAME": stack_env["DEAD_LETTER_QUEUE_NAME"],
             "EXPORT_BUCKET": stack_env["EXPORT_BUCKET"], **PARAMETERS}
    account = boot.client("sts", endpoint).get_caller_identity()["Account"]
    policy = lambda_policy(STAGE, names, account=account, region="us-east-1")
    iam.scope_resources()
    users = boot.client("iam", endpoint)
    admin = iam.create_user(users, iam.unique("admin"), iam.ADMIN_POLICY)
    creds = {fn: iam.create_user(users, iam.unique(fn), policy) for fn in FUNCTIONS}
    operator = iam.create_user(users, iam.unique("operator"),
                               operator_policy(names, account=account, region="us-east-1"))
    no_dlq = iam.create_user(users, iam.unique("sweep-without-dlq"), {**policy, "Statement": [
        st for st in policy["Statement"] if st["Sid"] != "DeadLetterQueue"]})
    ssm = admin.client("ssm", endpoint)
    values = {"DATABASE_URL_PARAMETER": tls_db.app_url("first-pass-1"),
              "TOKEN_SECRET_PARAMETER": TOKEN_SECRET, "INTERNAL_AUTH_KEY_PARAMETER": INTERNAL_KEY,
              "PRODUCT_CENTER_URL_PARAMETER": product_center.url}
    for variable, name in PARAMETERS.items():
        ssm.put_parameter(Name=name, Value=values[variable], Type="SecureString", Overwrite=True)
    env = {**{k: v for k, v in stack_env.items() if k not in (
        "DATABASE_URL", "TOKEN_SECRET", "INTERNAL_AUTH_KEY", "PRODUCT_CENTER_URL")},
        **PARAMETERS, "SWEEP_STALE_QUEUED_S": "2", "LEASE_SECONDS": "3",
        "CHUNK_SIZE": "500", "OUTCOME_FLUSH_MS": "100", "MAX_CHUNK_ATTEMPTS": "50"}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DATABASE_URL", "TOKEN_SECRET", "INTERNAL_AUTH_KEY", "PRODUCT_CENTER_URL"):
            mp.delenv(name, raising=False)
        for key, value in {**env, **admin.env()}.items():
            mp.setenv(key, value)
        iam.enforce(endpoint)
        try:
            bootstrap.reset()
            with LocalRuntime("app:app", stage="dev", port=0, env=env, access_log=False,
                              schedule_interval_s=1.0, worker_concurrency={"work": 2},
                              function_env={fn: c.env() for fn, c in creds.items()}) as rt:
                bootstrap.reset()       # this process now has the API's credentials
                yield {"rt": rt, "admin": admin, "creds": creds, "operator": operator,
                       "no_dlq": no_dlq, "endpoint": endpoint, "tls": tls_db, "env": env}
        finally:
            # Messages a worker held when its connection was killed stay in flight until
            # the queue's visibility timeout: leave both queues empty for later tests.
            sqs = admin.client("sqs", endpoint)
            for name in (names["WORK_QUEUE_NAME"], names["DEAD_LETTER_QUEUE_NAME"]):
                try:
                    sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
                except sqs.exceptions.PurgeQueueInProgress:
                    pass
            iam.enforce(endpoint, on=False)
            bootstrap.reset()


@pytest.fixture
def clean(prod: dict, product_center: Any) -> dict:
    from dataclasses import asdict

    from chalicelib.bootstrap import services
    from infra.local.fake_decisions import FakeConfig
    svc = services()
    svc.db.run(lambda cur: [cur.execute(f"DELETE FROM {t}") for t in _TABLES])
    product_center.configure(**asdict(FakeConfig()))
    product_center.reset()
    return prod


def token() -> str:
    from chalicelib.api.auth import issue_token
    return issue_token("s001", TOKEN_SECRET)


def final_row(task_id: int, timeout_s: float = 90) -> Any:
    from tests.factories import raw_row
    return wait_for(lambda: (r := raw_row(task_id)) and r.is_final and r,
                    timeout_s, f"task {task_id} to end")


def start_copy(rt: LocalRuntime, n: int) -> tuple[int, dict]:
    from tests.integration.engine_helpers import seed_shops
    shops = seed_shops(n)
    status, resp = http("POST", rt.url + "/station/product/copy_task", token(), {
        "source_shop_id": shops["source"], "target_shop_id": shops["target"],
        "product_ids": shops["product_ids"]})
    assert status == 200, resp
    return resp["data"]["task_id"], shops


# -- the server and the URL's TLS options --------------------------------------------------
def test_the_server_refuses_clear_text_and_the_app_connects_with_verified_tls(clean):
    from chalicelib.adapters.db import Database
    from chalicelib.bootstrap import services
    tls = clean["tls"]
    with pytest.raises(pymysql.err.OperationalError):      # MariaDB says 1045 or 3159
        Database(tls.app_url("first-pass-1", mode="DISABLED")).connection()
    with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        Database(tls.app_url("first-pass-1", ca=tls.certs.other_ca)).connection()

    def cipher(cur: Any) -> str:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        return cur.fetchone()["Value"]
    assert cipher and services().db.run(cipher)          # the app's own connection
    assert Database(tls.app_url("first-pass-1", mode="REQUIRED")).run(cipher)


# -- the flows with each function's credentials ---------------------------------------------
def test_copy_with_error_report_under_the_functions_own_policy(clean, product_center):
    product_center.reset()
    product_center.configure(latency_ms=1, reject_every=7)
    task_id, shops = start_copy(clean["rt"], 40)
    row = final_row(task_id)
    assert row.status == TaskStatus.PARTIAL, row.reason
    assert (row.succeeded_items, row.failed_items) == (40 - 5, 5)
    status, got = http("GET", f"{clean['rt'].url}/task/get?task_id={task_id}", token())
    assert status == 200 and got["data"]["result"]["error_report_url"]
    # the presigned link is signed with the API's key: that key may read the object
    api_s3 = clean["creds"]["api_handler"].client("s3", clean["endpoint"])
    key = row.result["error_report_key"]
    body = api_s3.get_object(Bucket=clean["env"]["EXPORT_BUCKET"], Key=key)["Body"].read()
    assert body.decode("utf-8-sig").count("\n") >= 5


def test_order_import_under_the_functions_own_policy(clean):
    import datetime as dt

    from chalicelib.adapters import order_repo
    from chalicelib.bootstrap import services
    from tests.integration.import_helpers import batch, order_row
    services().db.run(lambda cur: order_repo.upsert_time_config(
        cur, "s001", "s001-tc-import", "默认运营时间", dt.time(18, 0)))
    rows = [order_row(1), order_row(2, lines=[]), order_row(3)]        # row 2 is bad
    status, resp = http("POST", clean["rt"].url + "/station/order/batch/submit", token(),
                        batch(rows, time_config_id="s001-tc-import"))
    assert status == 200, resp
    row = final_row(resp["data"]["task_id"])
    assert row.status == TaskStatus.PARTIAL
    assert (row.succeeded_items, row.failed_items) == (2, 1)
    assert row.result["error_report_key"]


def test_order_export_sync_and_async_under_the_functions_own_policy(clean):
    import datetime as dt
    from urllib.parse import urlparse

    from chalicelib.bootstrap import services
    from infra.local.seed_orders import seed_orders
    seed_orders(services().db, "s001", 300, until=dt.datetime(2026, 4, 1, 12), days=1)
    url = (f"{clean['rt'].url}/station/sales_analysis/orderdetail?query_type=1&format=csv"
           "&start_date={}&end_date={}")
    status, resp = http("GET", url.format("2026-03-31", "2026-04-01"), token())
    assert status == 200 and resp["data"]["async"] == 1, resp
    row = final_row(resp["data"]["task_id"])
    assert row.status == TaskStatus.FINISHED, row.reason
    bucket = clean["env"]["EXPORT_BUCKET"]
    s3 = clean["creds"]["api_handler"].client("s3", clean["endpoint"])     # the link's signer
    body = s3.get_object(Bucket=bucket, Key=row.result["file_key"])["Body"].read()
    assert body.decode("utf-8-sig").count("\n") >= 300
    status, resp = http("GET", url.format("2026-01-01", "2026-01-02"), token())   # no orders
    assert status == 200 and resp["data"]["async"] == 0, resp
    key = urlparse(resp["data"]["link"]).path.split(f"/{bucket}/", 1)[1]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0


def test_sweeper_resends_a_lost_message_with_its_own_credentials(clean, product_center):
    from chalicelib.bootstrap import Services, services
    from tests.integration.engine_helpers import create_copy, seed_shops
    product_center.reset()
    product_center.configure(latency_ms=0)

    class Lost:                        # SQS "accepts" the message and loses it
        def send(self, *_: Any, **__: Any) -> None:
            return None
    svc = Services(services().settings)
    svc.__dict__["queue"] = Lost()
    shops = seed_shops(20)
    task = create_copy(svc, shops, shops["product_ids"])
    row = final_row(task.id)                 # SWEEP_STALE_QUEUED_S=2: re-sent, then run
    assert row.status == TaskStatus.FINISHED and row.succeeded_items == 20


def test_dead_letter_settled_by_the_sweeper_and_redriven_by_the_operator(clean):
    from chalicelib.adapters.aws import WorkQueue
    from chalicelib.bootstrap import Services, services
    from chalicelib.service.dead_letters import DeadLetters
    from tests.integration.engine_helpers import create_copy, seed_shops
    svc = Services(services().settings)
    svc.__dict__["queue"] = type("Lost", (), {"send": lambda *a, **k: None})()
    shops = seed_shops(5)
    task = create_copy(svc, shops, shops["product_ids"])
    admin_sqs = clean["admin"].client("sqs", clean["endpoint"])
    dlq_url = admin_sqs.get_queue_url(QueueName=clean["env"]["DEAD_LETTER_QUEUE_NAME"])["QueueUrl"]
    admin_sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(
        {"kind": "chunk", "task_id": task.id, "chunk": 0}))
    row = final_row(task.id)                         # the sweeper looked at the DLQ
    assert row.status == TaskStatus.FAILED
    from tests.integration.engine_helpers import details
    assert all("dead-lettered" in d["reason"] for d in details(task.id))
    # without the DLQ statement the sweeper's look is refused: the permission is needed
    refused = clean["no_dlq"].client("sqs", clean["endpoint"])
    with pytest.raises(Exception, match="AccessDenied"):
        DeadLetters(svc.db, WorkQueue(clean["env"]["DEAD_LETTER_QUEUE_NAME"], sqs=refused),
                    svc.queue, svc.engine).settle()
    # the functions may not take messages out of the DLQ; the operator may
    fn_sqs = clean["creds"]["sweep"].client("sqs", clean["endpoint"])
    with pytest.raises(Exception, match="AccessDenied"):
        fn_sqs.purge_queue(QueueUrl=dlq_url)
    op_sqs = clean["operator"].client("sqs", clean["endpoint"])
    report = DeadLetters(svc.db, WorkQueue(clean["env"]["DEAD_LETTER_QUEUE_NAME"], sqs=op_sqs),
                         WorkQueue(clean["env"]["WORK_QUEUE_NAME"], sqs=op_sqs),
                         svc.engine).redrive()
    assert report.errors == [] and report.moved >= 1 and report.left == 0


# -- secret rotation mid-copy ---------------------------------------------------------------
def test_password_rotated_mid_copy_the_task_finishes_and_nothing_is_lost(clean, product_center):
    from tests.integration.engine_helpers import details
    from tests.factories import raw_row
    tls, total = clean["tls"], 3000
    product_center.reset()
    product_center.configure(latency_ms=2)
    task_id, _ = start_copy(clean["rt"], total)
    wait_for(lambda: raw_row(task_id).succeeded_items >= 500, 60, "500 items done")
    new_url = tls.app_url("second-pass-2")
    with tls.server.connect() as conn, conn.cursor() as cur:
        cur.execute("ALTER USER 'app'@'%' IDENTIFIED BY 'second-pass-2'")
        clean["admin"].client("ssm", clean["endpoint"]).put_parameter(
            Name=PARAMETERS["DATABASE_URL_PARAMETER"], Value=new_url, Type="SecureString",
            Overwrite=True)
        # every open connection of the old password goes (as a failover or idle kill would)
        cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE USER = 'app'")
        for (conn_id,) in cur.fetchall():
            try:
                cur.execute("KILL CONNECTION %s", (conn_id,))
            except pymysql.err.OperationalError:     # ended meanwhile
                pass
    rotated_at = time.monotonic()
    row = final_row(task_id, 120)
    rows = details(task_id)
    seqs = {d["seq"] for d in rows}
    stats = product_center.stats()
    print(f"\nROTATION: finished {time.monotonic() - rotated_at:.1f} s after the rotation; "
          f"items lost={total - len(seqs)} duplicates={len(rows) - len(seqs)}")
    assert row.status == TaskStatus.FINISHED, row.reason
    assert len(seqs) == total == len(rows) and all(d["outcome"] == 1 for d in rows)
    assert stats["creates"] == total and stats["max_creates_per_key"] == 1
    status, got = http("GET", f"{clean['rt'].url}/task/get?task_id={task_id}", token())
    assert status == 200 and got["data"]["status"] == TaskStatus.FINISHED   # API follows too
