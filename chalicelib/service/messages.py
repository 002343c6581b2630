"""Routes work-queue messages to their handler by `kind`.

Every message on the work queue is a small JSON object with a `kind` ("chunk" for an
engine chunk; other kinds register here) and ids, never data. A message that is not
JSON, has no known kind or lacks its ids raises: SQS redelivers it and, after
maxReceiveCount, moves it to the dead-letter queue.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from chalicelib.domain.run import RunResult
from chalicelib.errors import InvalidInput

RemainingMs = Callable[[], int]
Handler = Callable[[dict[str, Any], RemainingMs], RunResult]


class MalformedMessage(InvalidInput):
    """A work-queue message nobody can handle: SQS redelivers it, then dead-letters it."""


class MessageRouter:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def handle(self, body: str, remaining_ms: RemainingMs) -> RunResult:
        try:
            msg = json.loads(body)
        except ValueError:
            raise MalformedMessage(f"message is not JSON: {body[:200]!r}") from None
        kind = msg.get("kind") if isinstance(msg, dict) else None
        # a kind that is not a string ([] or {}) cannot be a dict key: malformed too
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise MalformedMessage(f"no handler for message: {body[:200]!r}")
        return handler(msg, remaining_ms)
