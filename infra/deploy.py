"""`make deploy STAGE=…`: infra stack, then `chalice deploy`, then API Gateway error bodies.

0. Preflight (infra/deploy_run.py): credentials, the stage's variables and every SSM
   parameter / secret it names; anything missing stops the deploy before any change.
1. The infra stack `async-task-<stage>` from infra/template.yaml through a change set
   (infra/deploy_stack.py: created, or updated when the template or a parameter changed),
   with WorkerTimeoutSeconds from the stage's `work` lambda_timeout so the queue's
   visibility timeout follows the 6x rule. Steps 4-5 run under the stage's lock with its
   .chalice/deployed record restored from and saved to its bucket (infra/deploy_state.py).
2. Check that the stack's outputs are what the stage's environment in .chalice/config.json
   names (WORK_QUEUE_NAME, EXPORT_BUCKET). Names are derived from the stage on both sides,
   so they agree unless someone edited one side; a mismatch stops the deploy before a
   worker is wired to a queue that does not exist.
3. Write .chalice/policy-<stage>.json, the Lambdas' least-privilege IAM policy, from the
   stack outputs (queue ARN, bucket), the account and region, and the stage's secret
   names (DATABASE_URL_PARAMETER, ...). Chalice's autogen_policy is off for the stages, so
   this file is the functions' whole permission set. The committed file is the same
   document for account 000000000000 (LocalStack's); a deploy to a real account rewrites
   it and says so (commit it: it is the reviewed record of what production may do).
4. `chalice deploy --stage <stage>`.
5. Map API Gateway's own responses (UNAUTHORIZED, ACCESS_DENIED, MISSING_AUTHENTICATION_TOKEN,
   THROTTLED, INTEGRATION_TIMEOUT, DEFAULT_4XX/5XX, ...: infra/gateway_responses.py) to the
   platform's `{code, msg, data}` bodies with the stage's CORS grant (docs/errors.md) and
   redeploy the API stage: `chalice deploy` has no hook for gateway responses, so this is
   a separate, idempotent step.

Secrets are never in the repository: the stage names SSM parameters (or a Secrets Manager
secret) that the functions read at cold start (chalicelib/adapters/secrets.py); see
docs/deploy.md.

    python -m infra.deploy --stage dev                       # the whole deploy
    python -m infra.deploy --stage dev --policy-only --account 000000000000
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from infra.local.aws import _client

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "async-task"
LOCAL_ACCOUNT = "000000000000"      # LocalStack's default account: the committed policy files
# The secret-naming variables (chalicelib/adapters/secrets.py) and what reading them takes.
PARAMETER_VARIABLES = ("DATABASE_URL_PARAMETER", "TOKEN_SECRET_PARAMETER",
                       "INTERNAL_AUTH_KEY_PARAMETER", "PRODUCT_CENTER_URL_PARAMETER",
                       "NOTIFY_SECRET_PARAMETER")
SECRET_VARIABLES = ("DATABASE_SECRET_ARN",)


def stage_config(stage: str, project_dir: Path = ROOT) -> dict[str, Any]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    stage_cfg = config["stages"][stage]
    env = {**config.get("environment_variables", {}),
           **stage_cfg.get("environment_variables", {})}
    return {"env": env, "api_stage": stage_cfg.get("api_gateway_stage", "api"),
            "worker_timeout": stage_cfg["lambda_functions"]["work"]["lambda_timeout"],
            "policy_file": stage_cfg.get("iam_policy_file"),
            "autogen_policy": stage_cfg.get("autogen_policy", config.get("autogen_policy")),
            "vpc": bool(stage_cfg.get("subnet_ids") or config.get("subnet_ids"))}


# -- the Lambdas' IAM policy --------------------------------------------------------------
def function_names(stage: str) -> list[str]:
    """Names Chalice gives the app's functions: `<app>-<stage>` for the REST API handler,
    `<app>-<stage>-<name>` for authorizers, SQS handlers and schedules."""
    import app as app_module
    app = app_module.app
    names = [s.name for s in app.event_sources] + [a.name for a in app.builtin_auth_handlers]
    return [f"{app.app_name}-{stage}"] + sorted(f"{app.app_name}-{stage}-{n}" for n in names)


def lambda_policy(stage: str, env: dict[str, str], *, account: str, region: str,
                  vpc: bool = False) -> dict[str, Any]:
    """The functions' IAM policy: their own log groups, the work queue, a look at its DLQ,
    the export bucket's reports/ and exports/ objects, the stage's named secrets and X-Ray
    segments. Nothing else."""
    arn = f"{region}:{account}"
    log_groups = [f"arn:aws:logs:{arn}:log-group:/aws/lambda/{name}"
                  for name in function_names(stage)]
    bucket = env["EXPORT_BUCKET"]
    statements: list[dict[str, Any]] = [
        {"Sid": "OwnLogGroups", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup"], "Resource": log_groups},
        # Stream names are made by Lambda per sandbox, so the streams are `:log-stream:*`
        # of each group (AWS's own form for them).
        {"Sid": "OwnLogStreams", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"{group}:log-stream:*" for group in log_groups]},
        # Send (API, worker hand-on, sweeper), receive/delete/visibility (the event source
        # mapping polls with the function's role), attributes (CHAIN_CHUNKS looks at the
        # backlog), URL (WorkQueue resolves it by name).
        {"Sid": "WorkQueue", "Effect": "Allow",
         "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl"],
         "Resource": [f"arn:aws:sqs:{arn}:{env['WORK_QUEUE_NAME']}"]},
        # The sweeper looks at the DLQ every minute without taking its messages
        # (DeadLetters.settle: receive with visibility 0, depth); the operator's redrive
        # (delete, send back) is not the functions' to do (infra/iam_policy.py).
        {"Sid": "DeadLetterQueue", "Effect": "Allow",
         "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
         "Resource": [f"arn:aws:sqs:{arn}:{dead_letter_queue_name(env)}"]},
        # Error reports (reports/) and exports (exports/): written, multipart uploads
        # cleaned up, read through presigned links signed with this role.
        {"Sid": "ExportObjects", "Effect": "Allow",
         "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"],
         "Resource": [f"arn:aws:s3:::{bucket}/reports/*", f"arn:aws:s3:::{bucket}/exports/*"]},
    ]
    if env.get("EVENT_BUS_NAME"):
        # One event per finished task (service/notifications.py), on the stage's bus only.
        statements.append({"Sid": "TaskEvents", "Effect": "Allow", "Action": ["events:PutEvents"],
                           "Resource": [f"arn:aws:events:{arn}:event-bus/{env['EVENT_BUS_NAME']}"]})
    parameters = sorted(env[v] for v in PARAMETER_VARIABLES if env.get(v))
    if parameters:
        statements.append({"Sid": "SecretParameters", "Effect": "Allow",
                           "Action": ["ssm:GetParameter"],
                           "Resource": [f"arn:aws:ssm:{arn}:parameter/{p.lstrip('/')}"
                                        for p in parameters]})
    secrets = sorted(env[v] for v in SECRET_VARIABLES if env.get(v))
    if secrets:
        statements.append({"Sid": "SecretsManager", "Effect": "Allow",
                           "Action": ["secretsmanager:GetSecretValue"], "Resource": secrets})
    # X-Ray tracing is on (`xray: true`): the functions send their segments. These two
    # actions have no resource-level permissions, so AWS requires "*" (as the managed
    # AWSXRayDaemonWriteAccess does).
    statements.append({"Sid": "XRayTraces", "Effect": "Allow", "Action": list(XRAY_ACTIONS),
                       "Resource": "*"})
    if vpc:
        # In a VPC (to reach RDS), Lambda attaches ENIs with the function's role. EC2's
        # Describe* calls have no resource-level permissions, so AWS requires "*" here
        # (the same statement as the managed AWSLambdaVPCAccessExecutionRole).
        statements.append({"Sid": "VpcNetworkInterfaces", "Effect": "Allow",
                           "Action": list(VPC_ACTIONS), "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
VPC_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
               "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
               "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")


def dead_letter_queue_name(env: dict[str, str]) -> str:
    """The template's DLQ name, "<work queue>-dlq" (Settings.dlq_name), unless set."""
    return env.get("DEAD_LETTER_QUEUE_NAME") or f"{env['WORK_QUEUE_NAME']}-dlq"


def policy_path(stage: str, project_dir: Path = ROOT) -> Path:
    return project_dir / ".chalice" / f"policy-{stage}.json"


def policy_text(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2, ensure_ascii=False) + "\n"


def write_policy(stage: str, *, account: str, region: str,
                 project_dir: Path = ROOT) -> tuple[Path, bool]:
    """Write .chalice/policy-<stage>.json; returns (path, whether it changed)."""
    cfg = stage_config(stage, project_dir)
    text = policy_text(lambda_policy(stage, cfg["env"], account=account, region=region,
                                     vpc=cfg["vpc"]))
    path = policy_path(stage, project_dir)
    changed = not path.is_file() or path.read_text() != text
    if changed:
        path.write_text(text)
    return path, changed


def account_id(region: str) -> str:
    return _client("sts", None, region).get_caller_identity()["Account"]


def output_mismatches(outputs: dict[str, str], env: dict[str, str]) -> list[str]:
    pairs = {"WorkQueueName": "WORK_QUEUE_NAME", "ExportBucketName": "EXPORT_BUCKET",
             "EventBusName": "EVENT_BUS_NAME"}
    return [f"stack output {out}={outputs.get(out)!r} but the stage sets {var}={env.get(var)!r}"
            for out, var in pairs.items() if outputs.get(out) != env.get(var)]


def put_gateway_responses(rest_api_id: str, api_stage: str, *, endpoint_url: str | None = None,
                          region: str = "us-east-1", allow_origin: str = "") -> None:
    """Every gateway response of infra/gateway_responses.py, with the stage's CORS grant."""
    from infra.gateway_responses import GATEWAY_RESPONSES, put_parameters
    apigw = _client("apigateway", endpoint_url, region)
    for response_type in GATEWAY_RESPONSES:
        apigw.put_gateway_response(restApiId=rest_api_id,
                                   **put_parameters(response_type, allow_origin))
    apigw.create_deployment(restApiId=rest_api_id, stageName=api_stage)


def worker_ephemeral_mb(env: dict[str, str]) -> int:
    """/tmp the work function needs: EXPORT_TMP_MB (an XLSX export's row data, see
    docs/exports.md) plus 256 MB of headroom; Lambda's default is 512, its maximum 10240."""
    return min(10240, max(512, int(env.get("EXPORT_TMP_MB") or 0) + 256))


def set_ephemeral_storage(function_name: str, size_mb: int, *, endpoint_url: str | None = None,
                          region: str = "us-east-1") -> bool:
    """Chalice has no setting for a function's /tmp size, so it is set after each deploy
    (chalice's own updates leave it alone). Returns True when it changed."""
    lam = _client("lambda", endpoint_url, region)
    current = lam.get_function_configuration(FunctionName=function_name)
    if current.get("EphemeralStorage", {}).get("Size", 512) == size_mb:
        return False
    lam.update_function_configuration(FunctionName=function_name,
                                      EphemeralStorage={"Size": size_mb})
    return True


def deployed_rest_api_id(stage: str, project_dir: Path = ROOT) -> str:
    record = json.loads((project_dir / ".chalice" / "deployed" / f"{stage}.json").read_text())
    for resource in record["resources"]:
        if resource.get("resource_type") == "rest_api":
            return resource["rest_api_id"]
    raise SystemExit(f"no rest_api in .chalice/deployed/{stage}.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION")
                        or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    parser.add_argument("--alarm-action-arn", default=os.environ.get("ALARM_ACTION_ARN", ""),
                        help="notified by the alarms (an SNS topic); not given, the stack "
                             "keeps the one it has (default: $ALARM_ACTION_ARN)")
    parser.add_argument("--break-lock", action="store_true",
                        help="take over the stage's deploy lock (only when the deploy "
                             "holding it is known to be dead)")
    parser.add_argument("--policy-only", action="store_true",
                        help="only write .chalice/policy-<stage>.json")
    parser.add_argument("--account", help="account id for --policy-only (default: the "
                                          "credentials' account)")
    args = parser.parse_args(argv)
    if args.policy_only:
        path, changed = write_policy(args.stage, account=args.account or account_id(
            args.region), region=args.region)
        print(f"{path.relative_to(ROOT)}: {'written' if changed else 'unchanged'}")
        return 0
    from infra.deploy_run import run        # stack, lock + record, chalice deploy, ...
    return run(args.stage, args.region, args.alarm_action_arn, args.break_lock)


if __name__ == "__main__":
    sys.exit(main())
