"""`make deploy` checks on moto: the preflight names what a stage lacks before anything
changes; the stack goes through change sets (create, update on a changed default, no-op)."""
from __future__ import annotations

import boto3
import pytest

from infra import deploy_stack
from infra.deploy_run import preflight

PARAMS = {"DATABASE_URL_PARAMETER": "/preflight/database-url",
          "TOKEN_SECRET_PARAMETER": "/preflight/token-secret",
          "INTERNAL_AUTH_KEY_PARAMETER": "/preflight/internal-key"}
ENV = {"WORK_QUEUE_NAME": "q", "EXPORT_BUCKET": "b", **PARAMS}


@pytest.fixture
def ssm(aws):
    client = boto3.client("ssm", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1")
    for name in PARAMS.values():
        client.put_parameter(Name=name, Value="x", Type="SecureString", Overwrite=True)
    return client


def test_a_stage_with_everything_passes(ssm):
    assert preflight(ENV, "us-east-1") == []


def test_each_missing_parameter_and_variable_is_named(ssm):
    ssm.delete_parameter(Name=PARAMS["TOKEN_SECRET_PARAMETER"])
    env = {**ENV, "EXPORT_BUCKET": "", "DATABASE_URL_PARAMETER": ""}
    problems = preflight(env, "us-east-1")
    assert any("EXPORT_BUCKET" in p for p in problems)
    assert any("DATABASE_URL_PARAMETER (or DATABASE_SECRET_ARN)" in p for p in problems)
    assert any("/preflight/token-secret (TOKEN_SECRET_PARAMETER)" in p
               and "ParameterNotFound" in p for p in problems), problems
    assert len(problems) == 3


def test_parameters_not_given_take_the_default_except_the_alarm_action():
    stack = {"Parameters": [{"ParameterKey": "AlarmActionArn", "ParameterValue": "arn:x"},
                            {"ParameterKey": "QueueRetentionSeconds", "ParameterValue": "9"}]}
    got = deploy_stack.parameter_list(stack, {"Stage": "dev"})
    assert {"ParameterKey": "AlarmActionArn", "UsePreviousValue": True} in got
    assert all(p["ParameterKey"] != "QueueRetentionSeconds" for p in got)
    given = deploy_stack.parameter_list(stack, {"Stage": "dev", "AlarmActionArn": "arn:y"})
    assert {"ParameterKey": "AlarmActionArn", "ParameterValue": "arn:y"} in given
    assert deploy_stack.parameter_list(None, {"Stage": "dev"}) == [
        {"ParameterKey": "Stage", "ParameterValue": "dev"}]
