"""The package gate fails on the worker limits it is meant to guard, and lints for real."""
from __future__ import annotations

import json

from infra.package_check import cfn_lint, worker_problems


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
