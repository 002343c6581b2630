"""The package gate fails on the worker limits it is meant to guard, and lints for real."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from infra.deploy import lambda_policy, policy_text, stage_config, write_policy
from infra.package_check import (ROOT, cfn_lint, policy_problems, stage_policy_problems,
                                 worker_problems)


def _template(batch: int = 1, max_conc: int | None = 4, reserved: int | None = 4) -> dict:
    event = {"Type": "SQS", "Properties": {"Queue": "arn", "BatchSize": batch}}
    if max_conc is not None:
        event["Properties"]["ScalingConfig"] = {"MaximumConcurrency": max_conc}
    props = {"Events": {"WorkSqsEventSource": event}}
    if reserved is not None:
        props["ReservedConcurrentExecutions"] = reserved
    return {"Resources": {"Work": {"Type": "AWS::Serverless::Function", "Properties": props}}}


def test_a_well_configured_worker_passes():
    assert worker_problems(_template()) == []


def test_batch_size_other_than_one_fails():
    assert any("BatchSize" in p for p in worker_problems(_template(batch=10)))


def test_maximum_concurrency_above_reserved_fails():
    assert any("> ReservedConcurrentExecutions" in p
               for p in worker_problems(_template(max_conc=8, reserved=4)))


def test_missing_limits_fail():
    problems = worker_problems(_template(max_conc=None, reserved=None))
    assert any("MaximumConcurrency" in p for p in problems)
    assert any("ReservedConcurrentExecutions" in p for p in problems)


def test_no_worker_fails():
    assert worker_problems({"Resources": {}})


def test_cfn_lint_reports_a_broken_template(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
                                                   "Properties": {"NoSuchProperty": 1}}}}))
    assert cfn_lint(bad)


# -- IAM policy files ----------------------------------------------------------------------
def _statement(actions, resources):
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}


def test_committed_policy_files_are_tight_and_current():
    assert stage_policy_problems("dev") == []
    assert stage_policy_problems("prod") == []


def test_policy_names_only_the_stage_resources():
    env = stage_config("prod")["env"]
    policy = lambda_policy("prod", env, account="123456789012", region="eu-west-1")
    text = policy_text(policy)
    # "*" only where AWS has no resource-level permissions: X-Ray's two write actions
    starred = [st for st in policy["Statement"] if st["Resource"] == "*"]
    assert [st["Action"] for st in starred] == [["xray:PutTraceSegments",
                                                 "xray:PutTelemetryRecords"]]
    assert "async-task-dev" not in text
    assert "arn:aws:sqs:eu-west-1:123456789012:async-task-prod-work" in text
    assert "arn:aws:s3:::async-task-prod-exports/reports/*" in text
    assert "parameter/async-task/prod/database-url" in text
    assert "/aws/lambda/async-task-prod-work:log-stream:*" in text


def test_wildcard_action_fails():
    assert any("wildcard action" in p for p in policy_problems(
        _statement(["sqs:*"], ["arn:aws:sqs:us-east-1:123456789012:q"])))


def test_star_resource_fails_unless_aws_requires_it():
    assert any('"Resource": "*"' in p for p in policy_problems(
        _statement(["s3:GetObject"], "*")))
    assert policy_problems(_statement(["ec2:DescribeNetworkInterfaces"], "*")) == []


def test_vpc_stage_gets_the_eni_statement_and_passes():
    policy = lambda_policy("prod", stage_config("prod")["env"], account="123456789012",
                           region="us-east-1", vpc=True)
    assert policy["Statement"][-1]["Sid"] == "VpcNetworkInterfaces"
    assert policy_problems(policy) == []


def _project_copy(tmp_path: Path) -> Path:
    (tmp_path / ".chalice").mkdir()
    for f in (ROOT / ".chalice").glob("*.json"):
        shutil.copy(f, tmp_path / ".chalice" / f.name)
    return tmp_path


def test_stale_missing_or_broken_policy_file_fails(tmp_path):
    project = _project_copy(tmp_path)
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["EXPORT_BUCKET"] = "another-bucket"
    config_path.write_text(json.dumps(config))
    assert any("not what the stage's names give" in p
               for p in stage_policy_problems("dev", project))
    write_policy("dev", account="000000000000", region="us-east-1", project_dir=project)
    assert stage_policy_problems("dev", project) == []          # regenerated: current again
    (project / ".chalice" / "policy-dev.json").write_text("{not json")
    assert any("not valid JSON" in p for p in stage_policy_problems("dev", project))
    (project / ".chalice" / "policy-dev.json").unlink()
    assert any("does not exist" in p for p in stage_policy_problems("dev", project))
    del config["stages"]["dev"]["autogen_policy"]
    config_path.write_text(json.dumps(config))
    assert any("autogen_policy false" in p for p in stage_policy_problems("dev", project))


# -- the infra template ----------------------------------------------------------------------
def test_template_lifecycle_retention_and_alarms():
    # Neither emulator applies bucket lifecycle rules from CloudFormation, so they are
    # checked here, in the template (cfn-lint validates their form).
    from cfnlint.decode import cfn_yaml
    template = cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))
    res = template["Resources"]
    rules = {r["Id"]: r for r in
             res["ExportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1}
    for rule_id, prefix in (("expire-exports", "exports/"), ("expire-error-reports", "reports/")):
        assert rules[rule_id]["Prefix"] == prefix
        assert rules[rule_id]["ExpirationInDays"] == {"Ref": "ExportRetentionDays"}
    assert res["WorkQueue"]["Properties"]["MessageRetentionPeriod"] == {
        "Ref": "QueueRetentionSeconds"}
    assert res["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 1209600
    assert template["Parameters"]["QueueRetentionSeconds"]["MaxValue"] < 1209600 + 1
    dlq = res["DeadLetterQueueNotEmptyAlarm"]["Properties"]
    assert (dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
    age = res["WorkQueueOldestMessageAlarm"]["Properties"]
    assert (age["MetricName"], age["Threshold"]) == (
        "ApproximateAgeOfOldestMessage", {"Ref": "OldestMessageAlarmSeconds"})


# -- stage settings (infra/stage_settings.py) ----------------------------------------------
def _config() -> dict:
    return json.loads((ROOT / ".chalice" / "config.json").read_text())


def test_every_stage_names_every_required_setting():
    from infra.stage_settings import stage_setting_problems
    assert stage_setting_problems("dev") == [] and stage_setting_problems("prod") == []


def test_a_stage_without_the_product_center_url_fails():
    from infra.stage_settings import stage_setting_problems
    config = _config()
    del config["stages"]["prod"]["environment_variables"]["PRODUCT_CENTER_URL_PARAMETER"]
    problems = stage_setting_problems("prod", config)
    assert problems and all("product_center_url is not set" in p for p in problems)
    config["stages"]["prod"]["environment_variables"]["PRODUCT_CENTER_URL"] = "http://127.0.0.1:8100"
    assert any("loopback" in p for p in stage_setting_problems("prod", config))


def test_a_secret_given_as_a_value_fails():
    from infra.stage_settings import stage_setting_problems
    config = _config()
    config["stages"]["dev"]["environment_variables"]["TOKEN_SECRET"] = "x" * 40
    assert any("TOKEN_SECRET is a secret given as a value" in p
               for p in stage_setting_problems("dev", config))


def test_api_timeout_and_db_budget_must_fit_under_api_gateway():
    from infra.stage_settings import stage_setting_problems
    config = _config()
    api = config["stages"]["dev"]["lambda_functions"]["api_handler"]
    api["lambda_timeout"] = 30
    assert any("at most 28 s" in p for p in stage_setting_problems("dev", config))
    api["lambda_timeout"] = 28
    api["environment_variables"]["DB_RETRY_S"] = "30"
    assert any("instead of 50300" in p for p in stage_setting_problems("dev", config))


def test_sweep_settings_log_retention_and_xray_are_required():
    from infra.stage_settings import stage_setting_problems
    config = _config()
    stage = config["stages"]["prod"]
    del stage["lambda_functions"]["sweep"], stage["log_retention_in_days"], stage["xray"]
    problems = " | ".join(stage_setting_problems("prod", config))
    assert "sweep needs its own" in problems and "log_retention_in_days" in problems \
        and "xray" in problems


def test_the_sweepers_dlq_permission_is_granted_and_narrow():
    policy = lambda_policy("prod", stage_config("prod")["env"], account="123456789012",
                           region="eu-west-1")
    dlq = next(st for st in policy["Statement"] if st["Sid"] == "DeadLetterQueue")
    assert dlq["Resource"] == ["arn:aws:sqs:eu-west-1:123456789012:async-task-prod-work-dlq"]
    assert "sqs:ReceiveMessage" in dlq["Action"] and "sqs:DeleteMessage" not in dlq["Action"]
    assert policy_problems(policy) == []
