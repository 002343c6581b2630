"""Keeping a chunk's lease through one long piece of work (a StreamProcessor's stream).

The item and batch paths renew their lease with every outcome batch they record. A stream
(the order export: one item, minutes of rows) records one outcome at its end, so a
LeaseKeeper renews for it: every LEASE_RENEW_S the lease is extended from the database's
clock (chunk_repo.renew_lease, conditional on the token), the task's progress is written
and its cancel flag read. The work drives it with tick(); while the work is silent (a
selective query scanning a long range sends no row for minutes) the keeper's own thread
renews, so a live worker is never taken for dead. tick() raises when the work must stop:
LeaseLost (another worker took the chunk over), TaskCancelled, DeadlineReached.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.adapters.db import Database
from chalicelib.errors import Conflict, PlatformError
from chalicelib.observability import logger


class LeaseLost(Conflict):
    """Another worker took the chunk over (this one's lease had expired): write nothing more."""


class TaskCancelled(PlatformError):
    """The task was cancelled while its work ran."""


class DeadlineReached(PlatformError):
    """The worker nears its Lambda deadline."""


class LeaseKeeper:
    """Use as a context manager around the work; `total` (the work's size, for progress)
    may be set once known."""

    def __init__(self, db: Database, task_id: int, seq: int, token: str, *, lease_s: int,
                 every_s: float, remaining_ms: Callable[[], int], margin_ms: int):
        self.db, self.task_id, self.seq, self.token = db, task_id, seq, token
        self.lease_s, self.remaining_ms, self.margin_ms = lease_s, remaining_ms, margin_ms
        self.total = 0
        self.done = 0
        self.lost = False
        self.cancelled = False
        self._every = max(every_s, 0.05)
        self._next = time.monotonic() + self._every
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._idle_renewals, daemon=True,
                                        name=f"lease-{task_id}-{seq}")

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def tick(self, n: int = 0) -> None:
        """`n` more units of the work are done; raises if the work must stop."""
        self.done += n
        if self.remaining_ms() < self.margin_ms:       # cheap: the Lambda context's clock
            raise DeadlineReached("near the worker's deadline")
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._every
            self._try_renew()
        self.check()

    def confirm(self) -> None:
        """Renew now and raise if the work must stop: the last word before the work's
        result becomes visible (an upload completed). A renewal that fails raises too:
        this worker cannot tell whether it still owns the chunk."""
        self._renew()
        self.check()

    def check(self) -> None:
        if self.lost:
            raise LeaseLost("another worker took the chunk over")
        if self.cancelled:
            raise TaskCancelled("the task was cancelled")

    def _progress(self) -> int:
        return min(99, self.done * 100 // self.total) if self.total else 0

    def _renew(self) -> None:
        with self._lock:
            self._last = time.monotonic()
            if self.lost:
                return
            progress = self._progress()

            def tx(cur: Any) -> tuple[bool, bool]:
                if not chunk_repo.renew_lease(cur, self.task_id, self.seq, self.token,
                                              self.lease_s):
                    return False, False
                task_repo.set_progress(cur, self.task_id, progress)
                return True, task_repo.is_cancelled(cur, self.task_id)
            held, cancelled = self.db.run(tx)
            self.lost = not held
            self.cancelled = self.cancelled or cancelled

    def _try_renew(self) -> None:
        try:
            self._renew()
        except Exception:   # the DB is away (a restart): the next renewal tries again
            logger.exception("lease renewal failed",
                             extra={"task_id": self.task_id, "chunk": self.seq})

    def _idle_renewals(self) -> None:
        while not self._stop.wait(self._every):
            if time.monotonic() - self._last < self._every:
                continue        # the work ticks: tick() renews
            self._try_renew()
            if self.lost:
                return
