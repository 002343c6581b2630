"""Package gate: what `chalice deploy` would create must be valid and keep the worker's limits.

For each stage: `chalice package --stage S` into a temp dir, cfn-lint on its sam.json, and
a check of every SQS event source: BatchSize 1 (one message = one unit of work, so a
failure never redelivers a sibling) and ScalingConfig.MaximumConcurrency between 2 (the
AWS minimum) and the function's ReservedConcurrentExecutions (otherwise the poller
throttles itself and messages bounce back to the queue, counting toward the DLQ). The
infra template is linted too.

IAM: each stage must have `autogen_policy: false` and an `iam_policy_file` that exists, is
valid JSON, is exactly what infra/deploy.py generates for the stage's names (queue, bucket,
secret parameters, function log groups) in the account and region the file names, grants
no wildcard Action, and has no "Resource": "*" except for actions that AWS offers no
resource-level permissions for (ALLOWED_STAR_RESOURCE, each with its reason). The packaged
role must carry that document.

Settings (infra/stage_settings.py): every stage names every setting a deployed function
needs (secrets as SSM parameters, the product-center URL included), the API function's
timeout and DB budget fit under API Gateway's 29 s, the sweep function has its own
timeout and memory, log retention is set and X-Ray is on. Exit status 1 on any problem.

    python -m infra.package_check [--stage dev --stage prod]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.stage_settings import stage_setting_problems

ROOT = Path(__file__).resolve().parent.parent
INFRA_TEMPLATE = ROOT / "infra" / "template.yaml"
DEFAULT_STAGES = ("dev", "prod")
BIN = Path(sys.executable).parent
# Actions whose "Resource" may be "*": AWS has no resource-level permissions for them.
ALLOWED_STAR_RESOURCE = {
    "ec2:CreateNetworkInterface": "Lambda in a VPC; the ENI does not exist before the call",
    "ec2:DescribeNetworkInterfaces": "Describe* calls have no resource-level permissions",
    "ec2:DescribeSubnets": "Describe* calls have no resource-level permissions",
    "ec2:DeleteNetworkInterface": "Lambda in a VPC (AWSLambdaVPCAccessExecutionRole)",
    "ec2:AssignPrivateIpAddresses": "Lambda in a VPC (AWSLambdaVPCAccessExecutionRole)",
    "ec2:UnassignPrivateIpAddresses": "Lambda in a VPC (AWSLambdaVPCAccessExecutionRole)",
    "cloudwatch:PutMetricData": "no resource-level permissions (not used: metrics are EMF "
                                "log lines)",
    "xray:PutTraceSegments": "no resource-level permissions (AWSXRayDaemonWriteAccess)",
    "xray:PutTelemetryRecords": "no resource-level permissions (AWSXRayDaemonWriteAccess)",
}
_ARN_SCOPE = re.compile(r"^arn:aws:(?:sqs|logs|ssm):([a-z0-9-]+):(\d{12}):")


def worker_problems(template: dict[str, Any]) -> list[str]:
    """Problems with the SQS event sources of a packaged (SAM) template; [] when fine."""
    problems, found = [], 0
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            found += 1
            where = f"{name}.{event_name}"
            ev = event.get("Properties", {})
            if ev.get("BatchSize") != 1:
                problems.append(f"{where}: BatchSize is {ev.get('BatchSize')}, must be 1")
            max_conc = (ev.get("ScalingConfig") or {}).get("MaximumConcurrency")
            reserved = props.get("ReservedConcurrentExecutions")
            if max_conc is None:
                problems.append(f"{where}: no ScalingConfig.MaximumConcurrency")
            elif max_conc < 2:
                problems.append(f"{where}: MaximumConcurrency {max_conc} < 2 (AWS minimum)")
            if reserved is None:
                problems.append(f"{name}: no ReservedConcurrentExecutions")
            elif max_conc is not None and max_conc > reserved:
                problems.append(f"{where}: MaximumConcurrency {max_conc} > "
                                f"ReservedConcurrentExecutions {reserved}")
    if not found:
        problems.append("no SQS event source found (the worker is missing)")
    return problems


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_problems(policy: Any) -> list[str]:
    """Wildcards and loose forms in an IAM policy document; [] when fine."""
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list):
        return ["not an IAM policy document (no Statement list)"]
    problems = []
    for n, st in enumerate(policy["Statement"]):
        where = f"statement {st.get('Sid', n)}"
        if st.get("Effect") != "Allow" or "NotAction" in st or "NotResource" in st:
            problems.append(f"{where}: only Allow with Action and Resource is expected")
        actions = _as_list(st.get("Action", []))
        resources = _as_list(st.get("Resource", []))
        if not actions or not resources:
            problems.append(f"{where}: no Action or no Resource")
        problems += [f"{where}: wildcard action {a!r}" for a in actions if "*" in str(a)]
        if "*" in resources:
            loose = [a for a in actions if a not in ALLOWED_STAR_RESOURCE]
            if loose:
                problems.append(f"{where}: \"Resource\": \"*\" for {', '.join(loose)}")
    return problems


def policy_scope(policy: dict[str, Any]) -> tuple[str, str] | None:
    """(region, account) named by the policy's first regional ARN."""
    for st in policy.get("Statement", []):
        for resource in _as_list(st.get("Resource", [])):
            match = _ARN_SCOPE.match(str(resource))
            if match:
                return match.group(1), match.group(2)
    return None


def stage_policy_problems(stage: str, project_dir: Path = ROOT) -> list[str]:
    """The stage's policy file: present, valid, tight, and generated from its names."""
    from infra.deploy import lambda_policy, stage_config
    cfg = stage_config(stage, project_dir)
    if cfg["autogen_policy"] is not False or not cfg["policy_file"]:
        return [f"[{stage}] .chalice/config.json must set autogen_policy false and "
                "iam_policy_file"]
    path = project_dir / ".chalice" / cfg["policy_file"]
    try:
        policy = json.loads(path.read_text())
    except FileNotFoundError:
        return [f"[{stage}] {path.name} does not exist"]
    except ValueError as err:
        return [f"[{stage}] {path.name} is not valid JSON: {err}"]
    problems = [f"[{stage}] {path.name}: {p}" for p in policy_problems(policy)]
    scope = policy_scope(policy)
    if scope is None:
        return problems + [f"[{stage}] {path.name}: names no sqs/logs/ssm ARN"]
    expected = lambda_policy(stage, cfg["env"], region=scope[0], account=scope[1],
                             vpc=cfg["vpc"])
    if policy != expected:
        problems.append(f"[{stage}] {path.name} is not what the stage's names give: "
                        f"python -m infra.deploy --stage {stage} --policy-only "
                        f"--account {scope[1]} --region {scope[0]}")
    return problems


def packaged_role_problems(stage: str, template: dict[str, Any],
                           project_dir: Path = ROOT) -> list[str]:
    """The packaged role's inline policy must be the stage's policy file."""
    from infra.deploy import stage_config
    cfg = stage_config(stage, project_dir)
    if not cfg["policy_file"]:
        return []
    policy = json.loads((project_dir / ".chalice" / cfg["policy_file"]).read_text())
    roles = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::IAM::Role"]
    documents = [p.get("PolicyDocument") for r in roles
                 for p in r.get("Properties", {}).get("Policies", [])]
    if not roles or any(d != policy for d in documents) or not documents:
        return [f"[{stage}] the packaged role does not carry {cfg['policy_file']} "
                f"({len(roles)} role(s))"]
    return []


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def cfn_lint(path: Path) -> list[str]:
    out = _run([str(BIN / "cfn-lint"), str(path)])
    return [] if out.returncode == 0 else [f"cfn-lint {path.name}:\n{out.stdout}{out.stderr}"]


def _fix_api_log_group(template: dict[str, Any]) -> dict[str, Any]:
    """chalice 1.34's SAM packager names the REST handler's log group after `ApiHandler`
    while the function resource is `APIHandler` (log_retention_in_days on api_handler), so
    the package would not deploy as is; `chalice deploy` (what make deploy runs) builds the
    log group by API and is not affected. Point the reference at the real resource."""
    group = template.get("Resources", {}).get("ApiHandlerLogGroup")
    if group and "ApiHandler" not in template["Resources"]:
        name = group["Properties"]["LogGroupName"]
        if name == {"Fn::Sub": "/aws/lambda/${ApiHandler}"}:
            group["Properties"]["LogGroupName"] = {"Fn::Sub": "/aws/lambda/${APIHandler}"}
    return template


def check_stage(stage: str, workdir: Path) -> list[str]:
    out_dir = workdir / stage
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION",
                                                               "us-east-1")}
    done = _run([str(BIN / "chalice"), "package", "--stage", stage, str(out_dir)], env=env)
    if done.returncode != 0:
        return [f"chalice package --stage {stage} failed:\n{done.stdout}{done.stderr}"]
    sam = out_dir / "sam.json"
    template = _fix_api_log_group(json.loads(sam.read_text()))
    sam.write_text(json.dumps(template))
    problems = cfn_lint(sam)
    problems += [f"[{stage}] {p}" for p in worker_problems(template)]
    problems += packaged_role_problems(stage, template)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", dest="stages")
    args = parser.parse_args(argv)
    problems = cfn_lint(INFRA_TEMPLATE)
    with tempfile.TemporaryDirectory(prefix="chalice-package-") as tmp:
        for stage in args.stages or DEFAULT_STAGES:
            stage_problems = stage_policy_problems(stage)
            stage_problems += stage_setting_problems(stage)
            from infra.budget import stage_budget      # DB connections vs DB_CONNECTION_BUDGET
            stage_problems += [f"[{stage}] {p}" for p in stage_budget(stage)[2]]
            stage_problems += check_stage(stage, Path(tmp))
            print(f"package-check {stage}: {'ok' if not stage_problems else 'FAILED'}")
            problems += stage_problems
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
