"""Session resources for integration tests: a private MariaDB, moto, the fake product center.

Nothing here is mocked: the database is a real MariaDB server started on a free port
(or the server named by TEST_DATABASE_URL, e.g. a MySQL 8), AWS is moto's server
provisioned from infra/template.yaml, and the product center is a real HTTP server.
Unit tests request none of these fixtures and start nothing.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any, Iterator

import pymysql
import pytest

from dataclasses import asdict

from infra.local.fake_decisions import FakeConfig

ROOT = Path(__file__).resolve().parent.parent
# The app-wide settings every stage gets (.chalice/config.json's top-level environment:
# POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE) and the dev stage's CORS origin,
# as a deployed function has them; set before any test module imports the app (app.py
# reads CORS_ALLOW_ORIGIN when it is imported, as `chalice package` does).
_CHALICE_CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
for _key, _value in _CHALICE_CONFIG["environment_variables"].items():
    os.environ.setdefault(_key, _value)
CORS_ORIGIN = _CHALICE_CONFIG["stages"]["dev"]["environment_variables"]["CORS_ALLOW_ORIGIN"]
os.environ.setdefault("CORS_ALLOW_ORIGIN", CORS_ORIGIN)
# Tests that need an empty work queue purge it; SQS (and moto by default) allow one purge a
# minute per queue, which would make test order matter.
os.environ.setdefault("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
TEST_DB = f"async_task_test_{os.getpid()}"
TOKEN_SECRET = "test-token-secret-0123456789abcdef0123"
INTERNAL_KEY = "test-internal-key-0123456789abcdef0123"
NOTIFY_SECRET = "test-notify-secret-0123456789abcdef0123"
_TABLES = ("tbl_task_detail", "tbl_task_chunk", "tbl_async_task", "tbl_product", "tbl_shop",
           "tbl_order_line", "tbl_order", "tbl_time_config", "tbl_order_import_part",
           "tbl_rate_budget", "tbl_station_schedule")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's own MariaDB (None when TEST_DATABASE_URL names another server).

    It gets its own data directory per session, so concurrent test runs on one machine
    never share (or stop) each other's server. Fault tests restart it through this handle."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    from infra.local.mariadb import MariaDB, ensure_installed
    ensure_installed()
    server = MariaDB(datadir=tmp_path_factory.mktemp("mariadb"), port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mysql_server(private_mariadb: Any) -> str:
    """URL of the test server, without a database."""
    if private_mariadb is None:
        return os.environ["TEST_DATABASE_URL"].rstrip("/")
    return private_mariadb.url("").rstrip("/")


@pytest.fixture(scope="session")
def database_url(mysql_server: str) -> Iterator[str]:
    from chalicelib.adapters.db import parse_url
    from infra.migrate import migrate
    params = parse_url(mysql_server + "/mysql")
    conn = pymysql.connect(**{**params, "database": None}, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")
        cur.execute(f"CREATE DATABASE {TEST_DB} CHARACTER SET utf8mb4")
    url = f"{mysql_server}/{TEST_DB}"
    migrate(url)
    try:
        yield url
    finally:
        conn.ping(reconnect=True)       # fault tests restart the server
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")
        conn.close()


@pytest.fixture(scope="session")
def aws() -> Iterator[dict[str, str]]:
    """moto's server in-process, provisioned from the production template."""
    from infra.local.aws import env_for, provision, start_moto
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    moto = start_moto()
    os.environ["AWS_ENDPOINT_URL"] = moto.endpoint_url
    try:
        outputs = provision(moto.endpoint_url, "test")
        yield {"AWS_ENDPOINT_URL": moto.endpoint_url, **env_for(outputs)}
    finally:
        moto.stop()


@pytest.fixture(scope="session")
def product_center() -> Iterator[Any]:
    from infra.local.fake_product_center import FakeProductCenter
    fake = FakeProductCenter().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def stack_env(database_url: str, aws: dict[str, str], product_center: Any) -> dict[str, str]:
    """The app's environment, applied to this process (and inherited by runtime children)."""
    # The stack's event bus is left out: tests that publish events name it
    # (tests/integration/test_notifications.py), so other tests' queues carry no extra kind.
    env = {**{k: v for k, v in aws.items() if k != "EVENT_BUS_NAME"},
           "DATABASE_URL": database_url, "TOKEN_SECRET": TOKEN_SECRET,
           "NOTIFY_SECRET": NOTIFY_SECRET, "CALLBACK_HOSTS": "127.0.0.1,localhost",
           "CALLBACK_ALLOW_LOCAL": "1",
           "INTERNAL_AUTH_KEY": INTERNAL_KEY, "PRODUCT_CENTER_URL": product_center.url,
           "PRODUCT_CENTER_TIMEOUT_S": "2", "PRODUCT_CENTER_RATE": "0",
           "LINK_TTL_SECONDS": "60", "STAGE": "test"}
    os.environ.update(env)
    from chalicelib import bootstrap
    bootstrap.reset()
    return env


@pytest.fixture
def db_clean(stack_env: dict[str, str], product_center: Any) -> Iterator[None]:
    """Empty tables, an empty work queue and a fresh fake before each test."""
    from chalicelib import bootstrap
    bootstrap.reset()
    svc = bootstrap.services()

    def wipe(cur: Any) -> None:
        for table in _TABLES:
            cur.execute(f"DELETE FROM {table}")
    svc.db.run(wipe)
    _drain_queue(svc.queue)
    product_center.configure(**asdict(FakeConfig()))
    product_center.reset()
    yield
    bootstrap.reset()


def _drain_queue(queue: Any) -> None:
    # PurgeQueue is rate-limited (once a minute), so empty the queue message by message.
    while True:
        got = queue.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return
        queue.sqs.delete_message_batch(QueueUrl=queue.url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)])


@pytest.fixture
def token_for(stack_env: dict[str, str]):
    from chalicelib.api.auth import issue_token
    return lambda station: issue_token(station, TOKEN_SECRET)


@pytest.fixture
def station_token(token_for) -> str:
    return token_for("s001")


@pytest.fixture
def internal_key(stack_env: dict[str, str]) -> str:
    return INTERNAL_KEY


@pytest.fixture
def api(db_clean: None):
    from tests.http_client import GatewayClient
    import app as app_module
    return GatewayClient(app_module.app)


@contextlib.contextmanager
def served_app(stack_env: dict[str, str], workers: int = 0) -> Iterator[str]:
    """The real app served over HTTP by LocalRuntime with `workers` queue workers (the
    sweeper runs rarely); yields its base URL and stops it all after."""
    from infra.local.runtime import LocalRuntime
    runtime = LocalRuntime("app:app", stage="dev", port=0, env=stack_env, access_log=False,
                           worker_concurrency={"work": workers}, schedule_interval_s=3600)
    runtime.start()
    try:
        yield runtime.url
    finally:
        runtime.stop()


@pytest.fixture
def running_api(db_clean: None, stack_env: dict[str, str]) -> Iterator[str]:
    """The app over HTTP without queue workers (the fuzzers target the HTTP surface)."""
    with served_app(stack_env) as url:
        yield url
