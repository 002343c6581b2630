"""Local AWS: moto's server in-process, and the stack from infra/template.yaml on any endpoint.

    handle = start_moto()                       # 127.0.0.1, ephemeral port
    outputs = provision(handle.endpoint_url, stage="dev")
    env = env_for(outputs)                      # WORK_QUEUE_NAME, WORK_QUEUE_URL, DLQ_URL, ...
    handle.stop()

    AWS_ENDPOINT_URL=http://127.0.0.1:4566 python -m infra.local.aws provision --stage dev

`provision` deploys the same CloudFormation template as production, so queue names, the
redrive policy and the visibility timeout cannot drift between local runs and AWS. It works
against moto, LocalStack (select it with AWS_ENDPOINT_URL) or a real account.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import ClientError

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "template.yaml"
DUMMY_CREDENTIAL = "testing"
VISIBILITY_PER_WORKER_TIMEOUT = 6   # the template's rule, see QueueVisibilityTimeoutSeconds
_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}
_FAILED = {"CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED", "ROLLBACK_COMPLETE",
           "DELETE_IN_PROGRESS", "DELETE_FAILED", "DELETE_COMPLETE"}


class ProvisionError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE; the message carries the failing events."""


# -- moto ---------------------------------------------------------------------------------
@dataclass
class MotoHandle:
    """A running in-process moto server. moto's backends are module-global state, so every
    server started in one process serves the same queues and buckets."""
    host: str
    port: int
    _server: Any = field(repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "MotoHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as werkzeug binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_moto(port: int = 0, host: str = "127.0.0.1",
               log_requests: bool = False) -> MotoHandle:
    """Start moto's ThreadedMotoServer on host:port (0 = an ephemeral port, bound by the
    server itself so no other process can take it in between). Sets no environment
    variable: pass `handle.endpoint_url` to whoever needs it. Unless log_requests, the
    werkzeug access log (one stderr line per AWS call) is silenced, if nobody set its level."""
    from moto.server import ThreadedMotoServer

    # moto's CloudFormation does not model CloudWatch alarms (the LocalStack E2E suite
    # checks them): drop its per-provision warning about them.
    warnings.filterwarnings("ignore", message=".*AWS::CloudWatch::Alarm.*")
    logging.getLogger("moto").addFilter(
        lambda record: "AWS::CloudWatch::Alarm" not in str(record.args))
    access_log = logging.getLogger("werkzeug")
    if not log_requests and access_log.level == logging.NOTSET:
        access_log.setLevel(logging.WARNING)

    # werkzeug calls sys.exit() inside the server thread when the port is taken, and
    # ThreadedMotoServer.start() would then wait forever for a ready signal: check first.
    if port and not _port_is_free(host, port):
        raise OSError(f"port {host}:{port} is already in use")
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    real_host, real_port = server.get_host_and_port()
    return MotoHandle(host=real_host, port=real_port, _server=server)


# -- the stack ----------------------------------------------------------------------------
def _has_local_credentials() -> bool:
    """Credentials from the environment, profiles or config files. The instance and
    container metadata providers are skipped: an emulator does not need them, and off
    EC2 their probe can cost seconds of connect timeouts."""
    resolver = botocore.session.get_session().get_component("credential_provider")
    return any(provider.load() is not None for provider in resolver.providers
               if provider.METHOD not in ("iam-role", "container-role"))


def _client(service: str, endpoint_url: str | None, region: str):
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url is not None:
        kwargs["endpoint_url"] = endpoint_url
    # An emulator accepts any credentials; never invent them for real AWS.
    if (endpoint_url or os.environ.get("AWS_ENDPOINT_URL")) and not _has_local_credentials():
        kwargs.update(aws_access_key_id=DUMMY_CREDENTIAL,
                      aws_secret_access_key=DUMMY_CREDENTIAL)
    return boto3.client(service, **kwargs)


def stack_name(stage: str) -> str:
    return f"async-task-{stage}"


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def describe(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack's description, or None when there is no such stack."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise


def failure_reasons(cfn: Any, name: str, limit: int = 10) -> str:
    """The stack's failed resource events, for an error message."""
    events = cfn.describe_stack_events(StackName=name).get("StackEvents", [])
    failed = [f"{e.get('LogicalResourceId')}: {e.get('ResourceStatus')} "
              f"{e.get('ResourceStatusReason', '')}".strip()
              for e in events if "FAILED" in e.get("ResourceStatus", "")]
    return "; ".join(failed[:limit]) or "no failed resource events"


def template_parameters(overrides: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """CloudFormation Parameters; QueueVisibilityTimeoutSeconds follows the 6x rule from
    WorkerTimeoutSeconds unless it is given explicitly."""
    values = {k: str(v) for k, v in (overrides or {}).items()}
    if "WorkerTimeoutSeconds" in values and "QueueVisibilityTimeoutSeconds" not in values:
        values["QueueVisibilityTimeoutSeconds"] = str(
            VISIBILITY_PER_WORKER_TIMEOUT * int(values["WorkerTimeoutSeconds"]))
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


def provision(endpoint_url: str | None, stage: str, region: str = "us-east-1",
              parameters: dict[str, Any] | None = None,
              timeout_s: float = 120.0) -> dict[str, str]:
    """Create stack `async-task-<stage>` from infra/template.yaml and return its Outputs.

    Idempotent: an existing, complete stack is not touched and its outputs are returned.
    endpoint_url None = boto3's own resolution (AWS_ENDPOINT_URL, profile, real AWS).
    Stage is passed as the Stage parameter; `parameters` adds or overrides others.
    """
    cfn = _client("cloudformation", endpoint_url, region)
    name = stack_name(stage)
    stack = describe(cfn, name)
    if stack is None:
        try:
            cfn.create_stack(StackName=name, TemplateBody=TEMPLATE_PATH.read_text(),
                             Parameters=template_parameters({"Stage": stage, **(parameters or {})}))
        except ClientError as err:
            if "AlreadyExists" not in str(err):   # lost a race with another provision()
                raise
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        stack = describe(cfn, name)
        status = stack["StackStatus"] if stack else "MISSING"
        if status in _DONE:
            return _outputs(stack)
        if status in _FAILED:
            raise ProvisionError(f"stack {name} is {status}: {failure_reasons(cfn, name)}")
        if time.monotonic() > deadline:
            raise ProvisionError(f"stack {name} still {status} after {timeout_s:.0f}s")
        time.sleep(delay)   # polling interval of a real condition, not a synchronisation
        delay = min(delay * 2, 2.0)


def env_for(outputs: dict[str, str], endpoint_url: str | None = None,
            region: str | None = None) -> dict[str, str]:
    """The app's environment variables for a provisioned stack. With endpoint_url (an
    emulator), also what a child process needs to reach it: AWS_ENDPOINT_URL, the region,
    and dummy credentials when none are configured."""
    env = {
        "WORK_QUEUE_NAME": outputs["WorkQueueName"],
        "WORK_QUEUE_URL": outputs["WorkQueueUrl"],
        "DLQ_URL": outputs["DeadLetterQueueUrl"],
        "DEAD_LETTER_QUEUE_NAME": outputs["DeadLetterQueueName"],
        "EXPORT_BUCKET": outputs["ExportBucketName"],
        "EVENT_BUS_NAME": outputs["EventBusName"],
    }
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
        if not _has_local_credentials():
            env.update(AWS_ACCESS_KEY_ID=DUMMY_CREDENTIAL, AWS_SECRET_ACCESS_KEY=DUMMY_CREDENTIAL)
    if region is not None:
        env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.aws", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prov = sub.add_parser("provision", help="create the stack (AWS_ENDPOINT_URL selects "
                                            "the emulator) and print its outputs as JSON")
    prov.add_argument("--stage", default="dev")
    prov.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    prov.add_argument("--env", action="store_true",
                      help="print the app's environment variables instead of the outputs")
    args = parser.parse_args(argv)
    outputs = provision(os.environ.get("AWS_ENDPOINT_URL"), args.stage, args.region)
    json.dump(env_for(outputs) if args.env else outputs, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
