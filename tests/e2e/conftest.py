"""End-to-end against LocalStack: `make test-localstack` (infra/localstack.py) starts it and
sets LOCALSTACK_ENDPOINT. Without that variable nothing here is collected, so `make test`
(moto) does not run or skip these tests.

The fixtures of tests/conftest.py are reused unchanged (private MariaDB, the fake product
center, `stack_env`, `db_clean`) except `aws`, overridden here: instead of moto, the stack
from infra/template.yaml is created in LocalStack through its CloudFormation API, and the
app (this process and every runtime instance) talks to LocalStack via AWS_ENDPOINT_URL.
"""
from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "").rstrip("/")
STAGE = "e2e"
WORKER_TIMEOUT_S = 300
OLDEST_MESSAGE_ALARM_S = 600

if not ENDPOINT:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def localstack() -> Any:
    """A localstack-client session: boto3 clients for LocalStack's endpoint."""
    from localstack_client.session import Session
    return Session(aws_access_key_id="test", aws_secret_access_key="test",
                   localstack_host=ENDPOINT.split("://", 1)[1])


@pytest.fixture(scope="session")
def alarm_topic_arn(localstack: Any) -> str:
    return localstack.client("sns").create_topic(Name=f"async-task-{STAGE}-alarms")["TopicArn"]


@pytest.fixture(scope="session")
def stack_outputs(alarm_topic_arn: str) -> dict[str, str]:
    from infra.local.aws import provision
    return provision(ENDPOINT, STAGE, parameters={
        "WorkerTimeoutSeconds": WORKER_TIMEOUT_S,
        "OldestMessageAlarmSeconds": OLDEST_MESSAGE_ALARM_S,
        "AlarmActionArn": alarm_topic_arn})


@pytest.fixture(scope="session")
def aws(stack_outputs: dict[str, str]) -> Iterator[dict[str, str]]:
    """LocalStack in place of moto: the app's AWS environment for the provisioned stack."""
    from chalicelib.adapters import aws as aws_adapter
    from infra.local.aws import env_for
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    os.environ["AWS_ENDPOINT_URL"] = ENDPOINT
    aws_adapter.reset_clients()
    yield env_for(stack_outputs, ENDPOINT, "us-east-1")
    aws_adapter.reset_clients()
