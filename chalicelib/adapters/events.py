"""The stage's EventBridge bus: one event per finished task (docs/notifications.md).

boto3's client comes from chalicelib.adapters.aws (cached per process, AWS_ENDPOINT_URL
honoured), so moto, LocalStack and AWS are the same code.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.aws import client

SOURCE = "async-task"
DETAIL_TYPE = "Task Finished"


class EventRefused(RuntimeError):
    """PutEvents failed or refused the entry (its ErrorCode/ErrorMessage in the text)."""


class EventBus:
    def __init__(self, bus_name: str, events: Any | None = None):
        self.bus_name = bus_name
        self._events = events

    @property
    def events(self) -> Any:
        return self._events or client("events")

    def publish(self, detail: dict[str, Any]) -> None:
        """One entry on the bus; raises EventRefused unless EventBridge accepted it."""
        try:
            resp = self.events.put_events(Entries=[{
                "EventBusName": self.bus_name, "Source": SOURCE, "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":"),
                                     default=str)}])
        except Exception as exc:    # botocore's ClientError, endpoint and credential errors
            raise EventRefused(" ".join(str(exc).split())[:300]) from exc
        if resp.get("FailedEntryCount"):
            entry = (resp.get("Entries") or [{}])[0]
            raise EventRefused(f"{entry.get('ErrorCode', 'Failed')}: "
                               f"{entry.get('ErrorMessage', '')}"[:300])
