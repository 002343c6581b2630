"""The order of `make deploy STAGE=…` (infra/deploy.py's main hands over to `run`):

0. Preflight, changing nothing: credentials answer, the stage names every variable a
   deployed function needs, and every SSM parameter / secret it names exists. Anything
   missing is listed and the deploy stops (exit 2).
1. Infra stack through a change set (infra/deploy_stack.py), so template and parameter
   changes reach a live stage.
2. Names check; the IAM policy file for the account (infra/deploy.py).
3. Under the stage's lock (s3://<bucket>/deploy/<stage>/lock, infra/deploy_state.py):
   restore .chalice/deployed/<stage>.json from the bucket, adopt what the record lacks,
   `chalice deploy`, save the record, gateway responses, worker /tmp size; save again.
4. Print `API URL: …`: the stage's invoke URL (on an emulator, the URL it serves it at).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra import deploy as d
from infra import deploy_stack, deploy_state
from infra.local.aws import _client

REQUIRED = ("WORK_QUEUE_NAME", "EXPORT_BUCKET", "TOKEN_SECRET_PARAMETER",
            "INTERNAL_AUTH_KEY_PARAMETER")
WORKER = "work"


def _error(err: Exception) -> str:
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        return f"{e.get('Code')}: {e.get('Message')}"
    return f"{err.__class__.__name__}: {err}"


def preflight(env: dict[str, str], region: str) -> list[str]:
    """What the stage lacks before anything is changed (empty: go)."""
    try:
        _client("sts", None, region).get_caller_identity()
    except (ClientError, BotoCoreError) as err:
        return [f"AWS credentials for {region} do not work ({_error(err)}): set "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role"]
    missing = [f"stage variable {name} is not set in .chalice/config.json"
               for name in REQUIRED if not env.get(name)]
    if not (env.get("DATABASE_URL_PARAMETER") or env.get("DATABASE_SECRET_ARN")):
        missing.append("stage variable DATABASE_URL_PARAMETER (or DATABASE_SECRET_ARN) is "
                       "not set in .chalice/config.json")
    ssm = _client("ssm", None, region)
    for variable in d.PARAMETER_VARIABLES:
        if env.get(variable):
            try:
                ssm.get_parameter(Name=env[variable])
            except ClientError as err:
                missing.append(f"SSM parameter {env[variable]} ({variable}): {_error(err)}")
    for variable in d.SECRET_VARIABLES:
        if env.get(variable):
            try:
                _client("secretsmanager", None, region).describe_secret(SecretId=env[variable])
            except ClientError as err:
                missing.append(f"secret {env[variable]} ({variable}): {_error(err)}")
    return missing


def stack_parameters(cfg: dict[str, Any], alarm_action_arn: str) -> dict[str, Any]:
    params: dict[str, Any] = {"WorkerTimeoutSeconds": cfg["worker_timeout"],
                              "ExportBucketName": cfg["env"]["EXPORT_BUCKET"],
                              **cfg.get("stack_parameters", {})}
    if alarm_action_arn:            # not given: the stack keeps the one it has
        params["AlarmActionArn"] = alarm_action_arn
    return params


def invoke_url(record: dict[str, Any], api_stage: str, region: str) -> str:
    api_id = deploy_state.rest_api_id(record)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    if endpoint:        # LocalStack serves every REST API under this path
        return f"{endpoint}/_aws/execute-api/{api_id}/{api_stage}"
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{api_stage}"


def chalice_deploy(stage: str, project_dir: Path) -> None:
    subprocess.run([str(Path(sys.executable).parent / "chalice"), "deploy", "--stage", stage],
                   cwd=project_dir, check=True)


def run(stage: str, region: str, alarm_action_arn: str = "", break_lock: bool = False,
        project_dir: Path = d.ROOT) -> int:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if stage not in config.get("stages", {}):
        print(f"stage {stage!r} is not in .chalice/config.json "
              f"(stages: {', '.join(config.get('stages', {}))})", file=sys.stderr)
        return 2
    cfg = d.stage_config(stage, project_dir)
    cfg["stack_parameters"] = config["stages"][stage].get("stack_parameters", {})
    missing = preflight(cfg["env"], region)
    if missing:
        print(f"deploy of stage {stage} stopped before changing anything:\n  "
              + "\n  ".join(missing), file=sys.stderr)
        return 2
    outputs = deploy_stack.apply_stack(_client("cloudformation", None, region), stage,
                                       stack_parameters(cfg, alarm_action_arn))
    problems = d.output_mismatches(outputs, cfg["env"])
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    account = outputs["WorkQueueArn"].split(":")[4]
    path, changed = d.write_policy(stage, account=account, region=region,
                                   project_dir=project_dir)
    if changed:
        print(f"{path.relative_to(project_dir)} rewritten for account {account} in {region}: "
              "review and commit it", file=sys.stderr)
    s3 = _client("s3", None, region)
    bucket = outputs["ExportBucketName"]
    with deploy_state.StageLock(s3, bucket, stage, break_lock=break_lock):
        record = deploy_state.restore(s3, bucket, stage, project_dir)
        adopted = deploy_state.reconcile(
            record, apigw=_client("apigateway", None, region),
            lam=_client("lambda", None, region), app_name=d.APP_NAME, stage=stage,
            api_stage=cfg["api_stage"], region=region, queue_arn=outputs["WorkQueueArn"],
            worker=WORKER)
        if adopted:
            print(f"adopted into the deploy record: {', '.join(adopted)}", flush=True)
            deploy_state.write_record(record, stage, project_dir)
        chalice_deploy(stage, project_dir)
        deploy_state.save(s3, bucket, stage, project_dir)
        record = json.loads(deploy_state.record_path(stage, project_dir).read_text())
        d.put_gateway_responses(deploy_state.rest_api_id(record), cfg["api_stage"],
                                region=region,
                                allow_origin=cfg["env"].get("CORS_ALLOW_ORIGIN", ""))
        d.set_ephemeral_storage(f"{d.APP_NAME}-{stage}-{WORKER}",
                                d.worker_ephemeral_mb(cfg["env"]), region=region)
    print(f"API URL: {invoke_url(record, cfg['api_stage'], region)}", flush=True)
    return 0
