"""SQS and S3 adapters. boto3 clients are made on first use and cached per process.

boto3 honours AWS_ENDPOINT_URL itself, so the same code talks to AWS, moto or LocalStack.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

from chalicelib.errors import QueueUnavailable

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            # boto3 is imported here, on first use, not with the app: a cold API call that
            # never touches SQS or S3 (a task list without links) does not pay for it.
            import boto3
            from botocore.config import Config
            # SigV4 for presigned links: the only scheme newer regions accept.
            cfg = Config(retries={"max_attempts": 5, "mode": "standard"},
                         max_pool_connections=20, s3={"addressing_style": "path"},
                         signature_version="s3v4" if service == "s3" else None)
            _clients[service] = boto3.client(service, config=cfg)
        return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (tests that point the process at another endpoint or other
    credentials: boto3's default session caches the credentials it resolved, so it goes too)."""
    with _lock:
        _clients.clear()
        boto3 = sys.modules.get("boto3")     # not imported yet: no session to forget
        if boto3 is not None:
            boto3.DEFAULT_SESSION = None


@dataclass(frozen=True)
class QueueMessage:
    body: str
    receipt: str
    receive_count: int
    sent_at_ms: int
    message_id: str = ""
    group_id: str = ""      # MessageGroupId (the station) when the sender gave one


def _message(m: dict[str, Any]) -> QueueMessage:
    attrs = m.get("Attributes", {})
    return QueueMessage(m["Body"], m["ReceiptHandle"], int(attrs.get("ApproximateReceiveCount", 0)),
                        int(attrs.get("SentTimestamp", 0)), m.get("MessageId", ""),
                        attrs.get("MessageGroupId", ""))


class WorkQueue:
    """An SQS queue (the work queue or its dead-letter queue): one message = one unit of
    work, carrying ids only."""

    def __init__(self, queue_name: str, sqs: Any | None = None):
        self._name = queue_name
        self._sqs = sqs
        self._url: str | None = None

    @property
    def sqs(self) -> Any:
        return self._sqs or client("sqs")

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self.sqs.get_queue_url(QueueName=self._name)["QueueUrl"]
        return self._url

    def send(self, messages: Iterable[dict[str, Any]], delay_s: int = 0,
             group_id: str | None = None) -> None:
        """Send messages, 10 per request; raises if any entry failed. group_id: the
        MessageGroupId (the station), which SQS fair queues use to serve quiet tenants
        first; a standard queue otherwise ignores it (so do moto and LocalStack)."""
        batch: list[dict[str, Any]] = []
        for n, body in enumerate(messages):
            entry = {"Id": str(n), "MessageBody": json.dumps(body, separators=(",", ":")),
                     "DelaySeconds": delay_s}
            if group_id:
                entry["MessageGroupId"] = group_id
            batch.append(entry)
            if len(batch) == 10:
                self._send_batch(batch)
                batch = []
        if batch:
            self._send_batch(batch)

    def waiting(self) -> int:
        """Messages waiting to be received (SQS's approximate count; exact on emulators)."""
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.url,
                                              AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def send_raw(self, body: str, group_id: str = "") -> None:
        """Send a body as it is (redrive: a message moved back keeps its exact text and
        its MessageGroupId, so a fair queue still serves it as its station's)."""
        extra = {"MessageGroupId": group_id} if group_id else {}
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body, **extra)

    def receive(self, max_messages: int = 10, visibility_s: int = 30,
                wait_s: int = 0) -> list[QueueMessage]:
        resp = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=max_messages, VisibilityTimeout=visibility_s,
            WaitTimeSeconds=wait_s,
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp", "MessageGroupId"])
        return [_message(m) for m in resp.get("Messages", [])]

    def delete(self, receipt: str) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)

    def _send_batch(self, entries: list[dict[str, Any]]) -> None:
        resp = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
        if resp.get("Failed"):
            raise QueueUnavailable(f"SQS refused {len(resp['Failed'])} message(s): "
                               f"{resp['Failed'][0].get('Message', '')}")


class FileStore:
    """Private S3 bucket for exports and error reports; users get expiring links.

    Signing a link costs ~1 ms of CPU, per task on every /task/list poll; a warm instance
    hands out the same link again while it has at least half its lifetime left, so a link
    a client gets is valid for LINK_TTL_SECONDS / 2 at least."""

    LINK_CACHE_MAX = 4096

    def __init__(self, bucket: str, link_ttl_s: int, s3: Any | None = None):
        self.bucket = bucket
        self._ttl = link_ttl_s
        self._s3 = s3
        self._links: dict[str, tuple[str, float]] = {}

    @property
    def s3(self) -> Any:
        return self._s3 or client("s3")

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def link(self, key: str) -> str:
        now = time.monotonic()
        cached = self._links.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        url = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self._ttl)
        if len(self._links) >= self.LINK_CACHE_MAX:
            self._links.clear()
        self._links[key] = (url, now + self._ttl / 2)
        return url
