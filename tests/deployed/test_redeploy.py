"""Deploying a live stage again, as CI does it: from a second fresh clone (no .chalice/deployed
of its own), with a changed template and changed code; a deploy that lacks a parameter; a
deploy killed half-way, whose lock stops the next one until it is broken, and whose re-run
converges. Runs after the flows (it changes the deployed code)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deployed.clones import git
from tests.deployed.conftest import STAGE, api_url_from, call, deploy_env, run_deploy

NEW_RETENTION_S = 302400
PROBE_ROUTE = '''

@app.route("/deploy-probe", methods=["GET"])
def deploy_probe():
    return {"code": 0, "msg": "", "data": "second deploy"}
'''


def stack_state(boto: Any) -> dict[str, Any]:
    stack = boto("cloudformation").describe_stacks(StackName=f"async-task-{STAGE}")["Stacks"][0]
    return {"status": stack["StackStatus"], "updated": stack.get("LastUpdatedTime")}


def mappings(boto: Any) -> list[dict[str, Any]]:
    return boto("lambda").list_event_source_mappings(
        FunctionName=f"async-task-{STAGE}-work")["EventSourceMappings"]


def rest_apis(boto: Any) -> list[dict[str, Any]]:
    return [a for a in boto("apigateway").get_rest_apis()["items"] if a["name"] == "async-task"]


@pytest.fixture(scope="module")
def clone_b(deployed, tmp_path_factory) -> Path:
    """A second fresh clone with a template change and a code change, committed."""
    from tests.deployed.clones import fresh_clone
    clone = fresh_clone(tmp_path_factory.mktemp("clone-b"))
    template = clone / "infra" / "template.yaml"
    text = template.read_text()
    assert "    Default: 345600\n" in text
    template.write_text(text.replace("    Default: 345600\n", f"    Default: {NEW_RETENTION_S}\n"))
    with open(clone / "app.py", "a") as f:
        f.write(PROBE_ROUTE)
    git("-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "-qam",
        "second deploy: retention, probe route", cwd=clone)
    assert not (clone / ".chalice" / "deployed").exists()
    return clone


def test_a_missing_parameter_stops_the_deploy_before_anything_changes(deployed, boto,
                                                                      stage_secrets, clone_b):
    name = f"/async-task/{STAGE}/product-center-url"
    ssm = boto("ssm")
    before = stack_state(boto)
    ssm.delete_parameter(Name=name)
    try:
        done = run_deploy(clone_b)
    finally:
        ssm.put_parameter(Name=name, Value=stage_secrets["product-center-url"],
                          Type="SecureString", Overwrite=True)
    assert done.returncode == 2
    assert "stopped before changing anything" in done.stderr
    assert f"SSM parameter {name} (PRODUCT_CENTER_URL_PARAMETER)" in done.stderr
    assert "ParameterNotFound" in done.stderr
    assert stack_state(boto) == before                    # no change set was executed
    assert not (clone_b / ".chalice" / "deployed").exists()


def test_a_deploy_killed_half_way_keeps_others_out_until_its_lock_is_broken(deployed, boto,
                                                                          clone_b):
    proc = subprocess.Popen(["make", "-s", "deploy", f"STAGE={STAGE}"], cwd=clone_b,
                            env=deploy_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    seen = []
    for line in proc.stdout:                # kill it once chalice has begun changing things
        seen.append(line)
        if line.startswith("Updating lambda function"):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    print("".join(seen))
    assert any(line.startswith("Updating lambda function") for line in seen), seen
    assert "stack async-task-localstack: update\n" in seen        # the template change
    again = run_deploy(clone_b)
    assert again.returncode != 0
    assert f"stage {STAGE} is being deployed by" in again.stderr and "--break-lock" in again.stderr


def test_the_rerun_from_a_fresh_clone_converges_on_the_same_api(deployed, boto, clone_b,
                                                               station_token, stack_env):
    before_mapping = [m["UUID"] for m in mappings(boto)]
    assert len(before_mapping) == 1
    done = run_deploy(clone_b, DEPLOY_ARGS="--break-lock")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "taken over" in done.stdout
    assert "stack async-task-localstack: no changes" in done.stdout  # applied by the first
    assert api_url_from(done.stdout) == deployed["api_url"]        # same REST API, same URL
    assert [a["id"] for a in rest_apis(boto)] == [deployed["api_url"].split("/")[-2]]
    assert [m["UUID"] for m in mappings(boto)] == before_mapping    # not duplicated
    attrs = boto("sqs").get_queue_attributes(QueueUrl=stack_env["WORK_QUEUE_URL"],
                                             AttributeNames=["MessageRetentionPeriod"])
    assert int(attrs["Attributes"]["MessageRetentionPeriod"]) == NEW_RETENTION_S
    status, body, _ = call(f"{deployed['api_url']}/deploy-probe")
    assert (status, body["data"]) == (200, "second deploy"), body   # the new code is live
    status, body, _ = call(f"{deployed['api_url']}/task/list", station_token)
    assert status == 200 and body["code"] == 0, body
    # The record is in the stage's bucket, where the next clone's deploy will find it.
    stored = boto("s3").get_object(Bucket=stack_env["EXPORT_BUCKET"],
                                   Key=f"deploy/{STAGE}/chalice-deployed.json")
    record = json.loads(stored["Body"].read())
    assert {r["name"] for r in record["resources"]} >= {"rest_api", "work-sqs-event-source"}
    assert boto("s3").list_objects_v2(Bucket=stack_env["EXPORT_BUCKET"],
                                      Prefix=f"deploy/{STAGE}/lock").get("KeyCount") == 0
