"""IAM enforced by the in-process moto server, so a missing permission fails a test.

moto checks IAM only once `INITIAL_NO_AUTH_ACTION_COUNT` requests have been served
(moto/core/authorization.py: ActionAuthenticatorMixin; the default is infinity, i.e.
never). Its server exposes the same switch at `POST /moto-api/reset-auth` (body: the new
count; 0 = enforce from the next request), which is what `enforce()` uses, so it works
for the in-process ThreadedMotoServer as for a separate `moto_server`.

With enforcement on, every request must be signed by an access key of an IAM user that
exists in moto, and the user's policies must allow the action on the resource. Two limits
of moto 5.2.5 that the helpers here account for:

* S3 checks the bucket/key ARN and SQS the queue's ARN, except for GetQueueUrl (it
  looks for a QueueUrl the call does not have), and SSM and Secrets Manager check every
  action against the resource "*": a policy scoped to ARNs (least privilege) is then
  always denied. `scope_resources()` gives those calls the resource AWS checks (the
  queue's, parameter's or secret's ARN); it patches moto's response classes in this
  process, which is where the in-process server runs.
* EventBridge checks PutEvents against "*" as well; `scope_resources()` gives it the ARN of
  the bus each entry names, as AWS does.
* A presigned GET (no Authorization header) is not authorized under enforcement (moto
  reads the header unconditionally), so a test checks s3:GetObject with the signer's
  own credentials instead of following the link.
"""
from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Credentials:
    user: str
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key}

    def client(self, service: str, endpoint_url: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, endpoint_url=endpoint_url, region_name=region,
                            aws_access_key_id=self.access_key_id,
                            aws_secret_access_key=self.secret_access_key)


def enforce(endpoint_url: str, on: bool = True) -> None:
    """Turn moto's IAM checks on (from the next request) or off again."""
    # text/plain: a form content type would leave moto's request.data empty
    req = urllib.request.Request(f"{endpoint_url}/moto-api/reset-auth", method="POST",
                                 data=b"0" if on else b"inf",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        json.loads(resp.read())


def create_user(iam: Any, name: str, policy: dict[str, Any]) -> Credentials:
    """An IAM user carrying exactly `policy` (inline), and an access key for it."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy",
                        PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(name, key["AccessKeyId"], key["SecretAccessKey"])


_SQS_BATCH_AS_IAM = {"sqs:SendMessageBatch": "sqs:SendMessage",
                     "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
                     "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def scope_resources() -> None:
    """Make moto check GetQueueUrl, SSM and Secrets Manager actions against the queue's,
    parameter's or secret's ARN, as AWS does (see the module docstring). Idempotent."""
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.sqs.responses import SQSResponse
    from moto.ssm.responses import SimpleSystemManagerResponse

    queue_resource = getattr(SQSResponse, "_moto_queue_resource", None)
    if queue_resource is None:
        queue_resource = SQSResponse._moto_queue_resource = SQSResponse._determine_resource

    def sqs_resource(self: Any) -> str:
        name = self._get_param("QueueName")
        if self._get_action() == "GetQueueUrl" and isinstance(name, str) and name:
            return f"arn:aws:sqs:{self.region}:{self.current_account}:{name}"
        return queue_resource(self)

    def ssm_resource(self: Any) -> str:
        name = self._get_param("Name")
        if not isinstance(name, str) or not name:
            return "*"
        return f"arn:aws:ssm:{self.region}:{self.current_account}:parameter/{name.lstrip('/')}"

    def secret_resource(self: Any) -> str:
        secret_id = self._get_param("SecretId")
        if not isinstance(secret_id, str) or not secret_id:
            return "*"
        if secret_id.startswith("arn:"):
            return secret_id
        from moto.secretsmanager.models import secretsmanager_backends
        backend = secretsmanager_backends[self.current_account][self.region]
        try:
            return backend.describe_secret(secret_id).arn
        except Exception:       # unknown secret: AWS answers ResourceNotFound after auth
            return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{secret_id}"

    def events_resource(self: Any) -> str:
        entries = self._get_param("Entries") if self._get_action() == "PutEvents" else None
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            return "*"
        bus = entries[0].get("EventBusName") or "default"
        if isinstance(bus, str) and bus.startswith("arn:"):
            return bus
        return f"arn:aws:events:{self.region}:{self.current_account}:event-bus/{bus}"

    SQSResponse._determine_resource = sqs_resource
    from moto.events.responses import EventsHandler
    EventsHandler._determine_resource = events_resource
    from moto.iam import access_control
    if not getattr(access_control.IAMRequest, "_batch_actions_as_iam", False):
        class IAMRequest(access_control.IAMRequest):
            _batch_actions_as_iam = True

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._action = _SQS_BATCH_AS_IAM.get(self._action, self._action)
        access_control.IAMRequest = IAMRequest
    SimpleSystemManagerResponse._determine_resource = ssm_resource
    SecretsManagerResponse._determine_resource = secret_resource
