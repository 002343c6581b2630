"""The work queue's message router (service/messages.py): a message goes to the handler
registered for its `kind`; anything else is a MalformedMessage (SQS redelivers it, then
dead-letters it)."""
from __future__ import annotations

import json

import pytest

from chalicelib.domain.run import RunResult
from chalicelib.service.messages import MalformedMessage, MessageRouter


def test_the_router_hands_a_message_to_its_kinds_handler():
    router, seen = MessageRouter(), []
    router.register("chunk", lambda msg, remaining: seen.append((msg, remaining())) or
                    RunResult.COMPLETE)
    body = json.dumps({"kind": "chunk", "task_id": 1, "chunk": 0})
    assert router.handle(body, lambda: 1234) is RunResult.COMPLETE
    assert seen == [({"kind": "chunk", "task_id": 1, "chunk": 0}, 1234)]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"chunk"', '{"task_id": 1}',
                                  '{"kind": "nobody", "task_id": 1}'])
def test_the_router_refuses_what_it_cannot_route(body):
    router = MessageRouter()
    router.register("chunk", lambda msg, remaining: RunResult.COMPLETE)
    with pytest.raises(MalformedMessage):
        router.handle(body, lambda: 1000)


def test_each_kind_goes_to_its_own_handler():
    router, seen = MessageRouter(), []
    router.register("chunk", lambda msg, _: seen.append(("chunk", msg["task_id"])) or
                    RunResult.COMPLETE)
    router.register("notify", lambda msg, _: seen.append(("notify", msg["task_id"])) or
                    RunResult.SKIPPED)
    assert router.handle('{"kind": "notify", "task_id": 7}', lambda: 1) is RunResult.SKIPPED
    assert router.handle('{"kind": "chunk", "task_id": 8}', lambda: 1) is RunResult.COMPLETE
    assert seen == [("notify", 7), ("chunk", 8)]


@pytest.mark.parametrize("kind", [[], {}, ["chunk"], 1, None, True])
def test_a_kind_that_is_not_a_string_is_malformed(kind):
    router = MessageRouter()
    router.register("chunk", lambda msg, remaining: RunResult.COMPLETE)
    with pytest.raises(MalformedMessage):
        router.handle(json.dumps({"kind": kind, "task_id": 1}), lambda: 1000)
