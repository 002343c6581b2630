"""What one handling of a work-queue message came to (logs, metrics, tests).

A StrEnum, so a result logs and serializes as its plain value ("complete", ...).
"""
from __future__ import annotations

from enum import StrEnum


class RunResult(StrEnum):
    COMPLETE = "complete"         # the unit's work is recorded (a chunk done; its task may be final)
    SKIPPED = "skipped"           # a duplicate delivery: claimed elsewhere or already done
    DEADLINE = "deadline"         # stopped near the Lambda deadline; the rest is re-queued
    SLICED = "sliced"             # gave the worker up after SLICE_SECONDS: other work waits
    UNAVAILABLE = "unavailable"   # the downstream could not take some items; re-queued with backoff
    CANCELLED = "cancelled"       # the task was cancelled: the rest is recorded cancelled
    LEASE_LOST = "lease_lost"     # another worker took the lease over: nothing more written

    @property
    def requeues(self) -> bool:
        """The unit goes back on the queue (its lease is released)."""
        return self in (RunResult.DEADLINE, RunResult.SLICED, RunResult.UNAVAILABLE)

    @property
    def counts_attempt(self) -> bool:
        """Re-queued with an attempt counted and a backoff (the downstream failed us)."""
        return self is RunResult.UNAVAILABLE
