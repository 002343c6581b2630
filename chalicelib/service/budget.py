"""One budget for the product center, shared by every worker and adapted to its health.

`PRODUCT_CENTER_RATE` is the ceiling for the platform as a whole. The budget's state is one
row (chalicelib/adapters/budget_repo.py): the token bucket's theoretical arrival time and
the current adaptive rate. A worker process reserves a *block* of tokens with one locked
read + one UPDATE, then hands them to its threads one by one at their times; so one busy
worker may use the whole budget, and eight busy workers together never exceed it. Blocks
are small (at most BUDGET_BLOCK_S of the budget; a worker that leaves tokens unused gets
smaller ones), so at any rate there are only a few reservations per second.

Each reservation also carries what the worker saw since its last one (calls, 429s,
errors, latency against its own recent baseline) and steps the shared rate by AIMD
(chalicelib/domain/aimd.py). If the row is missing or corrupt it is rewritten; if the
database cannot be reached the worker goes on for a while on its even share
(ceiling / WORKER_CONCURRENCY), so the budget never blocks work.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

from chalicelib.adapters import budget_repo
from chalicelib.adapters.db import Database
from chalicelib.domain import aimd
from chalicelib.observability import logger

NAME = "product_center"
BASELINE_TAU_S = 5.0        # the latency baseline follows a lasting change within seconds
FALLBACK_S = 1.0            # how long a worker runs on its share when the row is unreachable


class SharedBudget:
    """The rate limiter of ProductCenterClient: acquire() before every attempt,
    observe() after it. Thread-safe; one per worker process."""

    def __init__(self, db: Database, cfg: aimd.AimdConfig, *, worker_share: float,
                 block_s: float = 0.25, burst_s: float = 0.05, grace_s: float = 0.05,
                 threads: int = 1,
                 name: str = NAME, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 on_rate: Callable[[float], None] | None = None):
        self._db, self.cfg, self.name = db, cfg, name
        self._share = worker_share
        self._block_s, self._burst_s, self._grace_s = block_s, burst_s, grace_s
        self._clock, self._sleep, self._on_rate = clock, sleep, on_rate
        self._lock = threading.Lock()
        self.rate = cfg.ceiling
        self._grant: aimd.Grant | None = None
        self._taken = 0             # tokens of the grant handed out or skipped
        self._used = 0              # ... handed out
        self._threads = max(1, threads)
        self._block = self._threads
        self.reservations = 0
        self._health_lock = threading.Lock()
        self._calls = self._throttled = self._errors = 0
        self._latency_sum = 0.0
        self._baseline = 0.0
        self._baseline_at = 0.0
        self._since = clock()
        self._previous = 0.0

    # -- the limiter interface -------------------------------------------------------
    @property
    def unlimited(self) -> bool:
        return False

    def acquire(self) -> None:
        """Block until this caller's token is due."""
        with self._lock:
            while True:
                now = self._clock()
                slot = None if self._grant is None else aimd.next_slot(
                    self._grant, self._taken, now, self._grace_s)
                if slot is not None:
                    self._taken, self._used = slot[0] + 1, self._used + 1
                    due = slot[1]
                    break
                self._renew()
        if due > now:
            self._sleep(due - now)

    def worst_wait_s(self, callers: int = 1) -> float:
        """The longest acquire() may block for the last of `callers` threads: their tokens
        at the current rate, behind a block of every other worker (the deadline margin)."""
        workers = max(1.0, self.cfg.ceiling / self._share) if self._share > 0 else 1.0
        return callers / max(self.cfg.floor, self.rate) + workers * self._block_s

    def observe(self, kind: str, latency_s: float) -> None:
        """One attempt's outcome: "ok" (also a permanent refusal: the service is healthy),
        "throttled" (429) or "error" (5xx, timeout, connection)."""
        with self._health_lock:
            self._calls += 1
            if kind == "throttled":
                self._throttled += 1
            elif kind == "error":
                self._errors += 1
            else:
                self._latency_sum += latency_s

    # -- reservations ----------------------------------------------------------------
    def _renew(self) -> None:
        """Reserve the next block (under self._lock)."""
        largest = max(1, int(self.rate * self._block_s))
        if self._grant is not None:
            exhausted = self._taken >= self._grant.n and self._used >= self._grant.n
            self._block = aimd.next_block(self._block, self._used, exhausted, largest,
                                          self._threads)
        else:
            self._block = min(largest, self._block)
        health = self._take_health()
        try:
            self._grant, self.rate = self._db.run(
                lambda cur: self._reserve(cur, self._block, health))
        except Exception:
            logger.exception("product center budget unreachable; using this worker's share",
                             extra={"share_per_s": self._share})
            n = max(1, math.ceil(self._share * FALLBACK_S))
            self._grant = aimd.Grant(self._clock(), 1.0 / self._share, n)
        self._taken = self._used = 0
        self.reservations += 1
        if self._on_rate is not None:
            self._on_rate(self.rate)

    def _reserve(self, cur: Any, n: int, health: aimd.Health) -> tuple[aimd.Grant, float]:
        row = budget_repo.lock(cur, self.name, self._clock(), self.cfg.ceiling)
        now = self._clock()                         # after the lock wait
        if row.repaired:
            logger.warning("product center budget row missing or corrupt; rewritten")
        state = aimd.step(aimd.RateState(row.rate, row.updated_s, row.decreased_s),
                          health, now, self.cfg)
        grant, tat = aimd.reserve(row.tat_s, now, n, state.rate, self._burst_s)
        budget_repo.save(cur, self.name, budget_repo.BudgetRow(
            state.rate, tat, state.updated_s, state.decreased_s))
        return grant, state.rate

    def _take_health(self) -> aimd.Health:
        with self._health_lock:
            calls, throttled, errors = self._calls, self._throttled, self._errors
            answered = calls - throttled - errors
            mean = self._latency_sum / answered if answered else 0.0
            self._calls = self._throttled = self._errors = 0
            self._latency_sum = 0.0
            since, self._since = self._since, self._clock()
        baseline, previous = self._baseline, self._previous
        if answered:
            self._previous = mean
            now = self._clock()
            if self._baseline <= 0:
                self._baseline = mean
            else:
                self._baseline = aimd.ewma(self._baseline, mean, now - self._baseline_at,
                                           BASELINE_TAU_S)
            self._baseline_at = now
        return aimd.Health(calls, throttled, errors, mean, baseline, since, previous)


def current(db: Database, name: str = NAME) -> dict[str, Any] | None:
    """The budget row (for the operator CLI): rate, reservations, last change."""
    return db.run(lambda cur: budget_repo.read(cur, name))
