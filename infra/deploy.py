"""`make deploy STAGE=…`: infra stack, then `chalice deploy`, then API Gateway error bodies.

1. Create the infra stack `async-task-<stage>` from infra/template.yaml (idempotent; an
   existing stack is left alone), with WorkerTimeoutSeconds from the stage's `work`
   lambda_timeout so the queue's visibility timeout follows the 6x rule.
2. Check that the stack's outputs are what the stage's environment in .chalice/config.json
   names (WORK_QUEUE_NAME, EXPORT_BUCKET). Names are derived from the stage on both sides,
   so they agree unless someone edited one side; a mismatch stops the deploy before a
   worker is wired to a queue that does not exist.
3. `chalice deploy --stage <stage>`.
4. Map API Gateway's UNAUTHORIZED and ACCESS_DENIED gateway responses to the platform's
   `{code, msg, data}` bodies (docs/errors.md) and redeploy the API stage: `chalice deploy`
   has no hook for gateway responses, so this is a separate, idempotent step.

Secrets (DATABASE_URL, TOKEN_SECRET, INTERNAL_AUTH_KEY) are not handled here: see the
README's deploy section.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.local.aws import _client, provision

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_BODIES = {
    "UNAUTHORIZED": (401, {"code": 40100, "msg": "missing, malformed, forged or expired "
                                                 "credential", "data": None}),
    "ACCESS_DENIED": (403, {"code": 40300, "msg": "the credential does not allow this",
                            "data": None}),
}


def stage_config(stage: str, project_dir: Path = ROOT) -> dict[str, Any]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    stage_cfg = config["stages"][stage]
    env = {**config.get("environment_variables", {}),
           **stage_cfg.get("environment_variables", {})}
    return {"env": env, "api_stage": stage_cfg.get("api_gateway_stage", "api"),
            "worker_timeout": stage_cfg["lambda_functions"]["work"]["lambda_timeout"]}


def output_mismatches(outputs: dict[str, str], env: dict[str, str]) -> list[str]:
    pairs = {"WorkQueueName": "WORK_QUEUE_NAME", "ExportBucketName": "EXPORT_BUCKET"}
    return [f"stack output {out}={outputs.get(out)!r} but the stage sets {var}={env.get(var)!r}"
            for out, var in pairs.items() if outputs.get(out) != env.get(var)]


def put_gateway_responses(rest_api_id: str, api_stage: str, *, endpoint_url: str | None = None,
                          region: str = "us-east-1") -> None:
    apigw = _client("apigateway", endpoint_url, region)
    for response_type, (status, body) in GATEWAY_BODIES.items():
        apigw.put_gateway_response(
            restApiId=rest_api_id, responseType=response_type, statusCode=str(status),
            responseParameters={"gatewayresponse.header.Content-Type": "'application/json'"},
            responseTemplates={"application/json": json.dumps(body)})
    apigw.create_deployment(restApiId=rest_api_id, stageName=api_stage)


def deployed_rest_api_id(stage: str, project_dir: Path = ROOT) -> str:
    record = json.loads((project_dir / ".chalice" / "deployed" / f"{stage}.json").read_text())
    for resource in record["resources"]:
        if resource.get("resource_type") == "rest_api":
            return resource["rest_api_id"]
    raise SystemExit(f"no rest_api in .chalice/deployed/{stage}.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    cfg = stage_config(args.stage)
    outputs = provision(None, args.stage, args.region, timeout_s=900,
                        parameters={"WorkerTimeoutSeconds": cfg["worker_timeout"],
                                    "ExportBucketName": cfg["env"]["EXPORT_BUCKET"]})
    problems = output_mismatches(outputs, cfg["env"])
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    subprocess.run([str(Path(sys.executable).parent / "chalice"), "deploy", "--stage",
                    args.stage], cwd=ROOT, check=True)
    put_gateway_responses(deployed_rest_api_id(args.stage), cfg["api_stage"],
                          region=args.region)
    return 0


if __name__ == "__main__":
    sys.exit(main())
