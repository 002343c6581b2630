"""What makes `chalice deploy` safe from a fresh CI clone: the stage's `.chalice/deployed`
record kept in the stage's bucket, a lock so one deploy of a stage runs at a time, and a
reconcile step that adopts what exists in the account but is missing from the record.

    with StageLock(s3, bucket, stage, holder):      # s3://<bucket>/deploy/<stage>/lock
        restore(s3, bucket, stage, project_dir)     # .chalice/deployed/<stage>.json
        reconcile(record, ...)                       # adopt the REST API / mapping found
        ... chalice deploy ...
        save(s3, bucket, stage, project_dir)

Chalice (1.34) finds Lambda functions, roles and the schedule rule by name, but a REST API
and an SQS event source mapping only through the record: without it, a new checkout creates
a second REST API (a new URL) and fails on the mapping that exists. Chalice writes the
record only after a deploy that completed, so a deploy killed half-way leaves the previous
record; reconcile then adopts the resources that run created (found by the API handler's
function in the API's integrations and by the mapping's function and queue), and the next
deploy converges instead of duplicating.

The lock is an S3 object written with If-None-Match: * (S3's conditional create); a lock
past its expiry, or one taken over with --break-lock, is replaced with If-Match on its ETag,
so two deploys cannot both take it.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

LOCK_TTL_S = 3600
EMPTY_RECORD = {"resources": [], "schema_version": "2.0", "backend": "api"}


def state_key(stage: str) -> str:
    return f"deploy/{stage}/chalice-deployed.json"


def lock_key(stage: str) -> str:
    return f"deploy/{stage}/lock"


def record_path(stage: str, project_dir: Path) -> Path:
    return project_dir / ".chalice" / "deployed" / f"{stage}.json"


def default_holder() -> str:
    run = os.environ.get("GITHUB_RUN_ID")
    where = f"github run {run}" if run else socket.gethostname()
    return f"{where} pid {os.getpid()}"


class StageLocked(RuntimeError):
    """Another deploy holds the stage's lock."""


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class StageLock:
    def __init__(self, s3: Any, bucket: str, stage: str, holder: str | None = None, *,
                 ttl_s: int = LOCK_TTL_S, break_lock: bool = False) -> None:
        self.s3, self.bucket, self.stage = s3, bucket, stage
        self.key = lock_key(stage)
        self.holder = holder or default_holder()
        self.ttl_s, self.break_lock = ttl_s, break_lock
        self.etag: str | None = None

    def body(self) -> bytes:
        now = time.time()
        return json.dumps({"holder": self.holder, "since": int(now),
                           "expires": int(now + self.ttl_s)}).encode()

    def acquire(self) -> "StageLock":
        try:
            self.etag = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=self.body(),
                                           IfNoneMatch="*")["ETag"]
            return self
        except ClientError as err:
            if _code(err) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
        current = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        doc = json.loads(current["Body"].read() or b"{}")
        expired = doc.get("expires", 0) < time.time()
        if not (expired or self.break_lock):
            since = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(doc.get("since", 0)))
            raise StageLocked(
                f"stage {self.stage} is being deployed by {doc.get('holder')!r} since {since} "
                f"(lock s3://{self.bucket}/{self.key}, expires in "
                f"{int(doc.get('expires', 0) - time.time())}s): wait for it, or re-run with "
                "--break-lock if that deploy is dead")
        try:
            self.etag = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=self.body(),
                                           IfMatch=current["ETag"])["ETag"]
        except ClientError as err:
            if _code(err) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise StageLocked(f"stage {self.stage}: another deploy took the lock "
                                  "just now") from err
            raise
        print(f"lock of stage {self.stage} taken over from {doc.get('holder')!r} "
              f"({'expired' if expired else '--break-lock'})", flush=True)
        return self

    def release(self) -> None:
        try:
            current = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError:
            return
        if current["ETag"] == self.etag:            # still ours: not taken over meanwhile
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)

    def __enter__(self) -> "StageLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- the record -----------------------------------------------------------------------------
def restore(s3: Any, bucket: str, stage: str, project_dir: Path) -> dict[str, Any]:
    """Write the stage's stored record to .chalice/deployed/<stage>.json (an empty one when
    none is stored yet) and return it. A local record is replaced: the bucket's is the truth."""
    try:
        record = json.loads(s3.get_object(Bucket=bucket, Key=state_key(stage))["Body"].read())
    except ClientError as err:
        if _code(err) not in ("NoSuchKey", "404"):
            raise
        record = json.loads(json.dumps(EMPTY_RECORD))
    write_record(record, stage, project_dir)
    return record


def write_record(record: dict[str, Any], stage: str, project_dir: Path) -> None:
    path = record_path(stage, project_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def save(s3: Any, bucket: str, stage: str, project_dir: Path) -> None:
    s3.put_object(Bucket=bucket, Key=state_key(stage),
                  Body=record_path(stage, project_dir).read_bytes(),
                  ContentType="application/json")


def _entry(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((r for r in record["resources"] if r.get("name") == name), None)


def find_rest_apis(apigw: Any, app_name: str, function_name: str) -> list[dict[str, Any]]:
    """REST APIs named app_name whose integrations call function_name (the stage's API
    handler): the stage's own, as opposed to another stage's API of the same name."""
    found = []
    for api in apigw.get_paginator("get_rest_apis").paginate().build_full_result()["items"]:
        if api.get("name") != app_name:
            continue
        resources = apigw.get_resources(restApiId=api["id"], embed=["methods"], limit=500)
        uris = [m.get("methodIntegration", {}).get("uri", "")
                for r in resources.get("items", [])
                for m in (r.get("resourceMethods") or {}).values()]
        if any(f":function:{function_name}/invocations" in uri for uri in uris):
            found.append(api)
    return found


def reconcile(record: dict[str, Any], *, apigw: Any, lam: Any, app_name: str, stage: str,
              api_stage: str, region: str, queue_arn: str, worker: str) -> list[str]:
    """Adopt into the record the stage's REST API and worker mapping when the record lacks
    them but the account has them. Returns what was adopted; stops (RuntimeError) when more
    than one candidate exists, since choosing would be a guess."""
    adopted = []
    if _entry(record, "rest_api") is None:
        apis = find_rest_apis(apigw, app_name, f"{app_name}-{stage}")
        if len(apis) > 1:
            raise RuntimeError(f"stage {stage} has {len(apis)} REST APIs "
                               f"({', '.join(a['id'] for a in apis)}) and no record of which "
                               "is live: delete the extra ones, then deploy again")
        if apis:
            api_id = apis[0]["id"]
            record["resources"].append({
                "name": "rest_api", "resource_type": "rest_api", "rest_api_id": api_id,
                "rest_api_url": f"https://{api_id}.execute-api.{region}.amazonaws.com/"
                                f"{api_stage}/"})
            adopted.append(f"rest_api {api_id}")
    event_name = f"{worker}-sqs-event-source"
    if _entry(record, event_name) is None:
        function_name = f"{app_name}-{stage}-{worker}"
        try:
            mappings = lam.list_event_source_mappings(
                FunctionName=function_name, EventSourceArn=queue_arn)["EventSourceMappings"]
        except ClientError as err:
            if _code(err) != "ResourceNotFoundException":
                raise
            mappings = []
        if len(mappings) > 1:
            raise RuntimeError(f"{function_name} has {len(mappings)} mappings of {queue_arn}")
        if mappings:
            record["resources"].append({
                "name": event_name, "resource_type": "sqs_event", "queue_arn": queue_arn,
                "event_uuid": mappings[0]["UUID"], "queue": queue_arn.rsplit(":", 1)[1],
                "lambda_arn": mappings[0]["FunctionArn"]})
            adopted.append(f"sqs_event {mappings[0]['UUID']}")
    return adopted


def rest_api_id(record: dict[str, Any]) -> str | None:
    entry = _entry(record, "rest_api")
    return entry["rest_api_id"] if entry else None
