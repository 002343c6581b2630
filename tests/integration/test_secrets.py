"""Secrets from SSM Parameter Store and Secrets Manager (moto's server), read by Settings."""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.adapters import aws as aws_adapter
from chalicelib.adapters.db import parse_url
from chalicelib.adapters.secrets import SecretUnavailable
from chalicelib.config import Settings

URL = "mysql://app:p%40ss%2Fw0rd@db.internal:3307/async_task"


@pytest.fixture
def ssm(aws):
    aws_adapter.reset_clients()
    return aws_adapter.client("ssm")


@pytest.fixture
def secretsmanager(aws):
    aws_adapter.reset_clients()
    return aws_adapter.client("secretsmanager")


def _name() -> str:
    return f"/async-task/test/{uuid.uuid4().hex[:8]}"


def test_database_url_from_an_ssm_securestring(ssm):
    name = _name()
    ssm.put_parameter(Name=name, Value=URL, Type="SecureString")
    settings = Settings.from_env({"DATABASE_URL_PARAMETER": name, "STAGE": "prod"},
                                 read_secrets=True)
    assert settings.database_url == URL and settings.stage == "prod"
    assert parse_url(settings.database_url)["password"] == "p@ss/w0rd"


def test_token_and_internal_key_from_ssm(ssm):
    token, key = _name(), _name()
    ssm.put_parameter(Name=token, Value="t" * 40, Type="SecureString")
    ssm.put_parameter(Name=key, Value="k" * 40, Type="SecureString")
    settings = Settings.from_env({"TOKEN_SECRET_PARAMETER": token,
                                  "INTERNAL_AUTH_KEY_PARAMETER": key}, read_secrets=True)
    assert (settings.token_secret, settings.internal_auth_key) == ("t" * 40, "k" * 40)


def test_a_value_given_directly_wins_and_nothing_is_read():
    # No such parameter exists anywhere: reading it would fail, so it must not be read.
    settings = Settings.from_env({"DATABASE_URL": URL,
                                  "DATABASE_URL_PARAMETER": "/nowhere/database-url"},
                                 read_secrets=True)
    assert settings.database_url == URL


def test_wiring_settings_read_no_secret():
    # What app.py's decorators use, also under `chalice package` without AWS access.
    env = {"DATABASE_URL_PARAMETER": "/nowhere/database-url", "WORK_QUEUE_NAME": "q"}
    settings = Settings.from_env(env)
    assert settings.work_queue_name == "q" and settings.database_url == Settings.database_url


def test_services_read_the_parameter_once_per_process(ssm, stack_env, monkeypatch):
    from chalicelib import bootstrap
    name = _name()
    ssm.put_parameter(Name=name, Value=stack_env["DATABASE_URL"], Type="SecureString")
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("DATABASE_URL_PARAMETER", name)
    bootstrap.reset()
    try:
        svc = bootstrap.services()
        assert svc.settings.database_url == stack_env["DATABASE_URL"]
        assert svc.db.run(lambda cur: cur.execute("SELECT 1") or cur.fetchone())
        ssm.put_parameter(Name=name, Value="mysql://changed@nowhere/x", Type="SecureString",
                          Overwrite=True)
        # cached for the process's life, as a Lambda instance keeps it after its cold start
        assert bootstrap.services().settings.database_url == stack_env["DATABASE_URL"]
    finally:
        bootstrap.reset()


def test_database_url_from_an_rds_json_secret(secretsmanager):
    doc = {"engine": "mysql", "username": "app", "password": "p@ss/w0rd:#",
           "host": "proxy.internal", "port": 3306, "dbname": "tasks"}
    arn = secretsmanager.create_secret(Name=f"async-task-test-{uuid.uuid4().hex[:8]}",
                                       SecretString=json.dumps(doc))["ARN"]
    settings = Settings.from_env({"DATABASE_SECRET_ARN": arn}, read_secrets=True)
    params = parse_url(settings.database_url)
    assert params == {"host": "proxy.internal", "port": 3306, "user": "app",
                      "password": "p@ss/w0rd:#", "database": "tasks"}


def test_database_url_stored_as_a_url_in_secrets_manager(secretsmanager):
    arn = secretsmanager.create_secret(Name=f"async-task-test-{uuid.uuid4().hex[:8]}",
                                       SecretString=URL)["ARN"]
    assert Settings.from_env({"DATABASE_SECRET_ARN": arn}, read_secrets=True).database_url == URL


def test_missing_parameter_is_a_clear_error(ssm):
    with pytest.raises(SecretUnavailable) as err:
        Settings.from_env({"DATABASE_URL_PARAMETER": "/async-task/test/missing"},
                          read_secrets=True)
    assert "DATABASE_URL_PARAMETER=/async-task/test/missing" in str(err.value)
    assert "ParameterNotFound" in str(err.value)


def test_missing_secret_is_a_clear_error(secretsmanager):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:async-task-missing-AbCdEf"
    with pytest.raises(SecretUnavailable) as err:
        Settings.from_env({"DATABASE_SECRET_ARN": arn}, read_secrets=True)
    assert f"DATABASE_SECRET_ARN={arn}" in str(err.value)
    assert "ResourceNotFoundException" in str(err.value)


def test_malformed_secret_is_a_clear_error(secretsmanager):
    arn = secretsmanager.create_secret(Name=f"async-task-test-{uuid.uuid4().hex[:8]}",
                                       SecretString=json.dumps({"username": "app"}))["ARN"]
    with pytest.raises(SecretUnavailable, match="username, password and host"):
        Settings.from_env({"DATABASE_SECRET_ARN": arn}, read_secrets=True)
