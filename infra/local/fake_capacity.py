"""The fake product center's capacity and its per-window request counts.

`Capacity`: the fake serves `rate_per_s` requests per second at its base latency. Above
that, requests queue (a virtual queue: each one takes 1/rate of service time), so latency
grows with the backlog; a request that would wait more than `max_queue_s` is answered 429
at once with a Retry-After. This is how a real overloaded service looks from outside:
latency first, then refusals.

`Windows`: requests counted per 100 ms, so a test or the bench can read the busiest
one-second window the fake saw (is a shared budget really kept?).

Both are touched only from the fake's event-loop thread: a few float operations per
request, nothing when the capacity is off.
"""
from __future__ import annotations

import math
from collections import Counter

BUCKET_S = 0.1


class Capacity:
    def __init__(self, rate_per_s: float, max_queue_s: float, burst_s: float = 0.02):
        self.rate_per_s, self.max_queue_s, self.burst_s = rate_per_s, max_queue_s, burst_s
        self._next_free = 0.0

    def admit(self, now: float) -> float | None:
        """Extra seconds this request waits for service, or None: refuse it (429)."""
        if self.rate_per_s <= 0:
            return 0.0
        slot = max(self._next_free, now - self.burst_s)
        wait = slot - now
        if wait > self.max_queue_s:
            return None
        self._next_free = slot + 1.0 / self.rate_per_s
        return max(0.0, wait)

    def retry_after_s(self, now: float) -> int:
        """Whole seconds until the backlog is back within its bound (at least 1)."""
        return max(1, math.ceil(self._next_free - now - self.max_queue_s))


class Windows:
    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()

    def add(self, now: float) -> None:
        self.counts[int(now / BUCKET_S)] += 1

    def busiest(self, window_s: float = 1.0) -> int:
        """Most requests in any window of window_s (a multiple of 100 ms), sliding."""
        if not self.counts:
            return 0
        width = max(1, round(window_s / BUCKET_S))
        lo, hi = min(self.counts), max(self.counts)
        best = run = sum(self.counts.get(b, 0) for b in range(lo, lo + width))
        for b in range(lo + width, hi + 1):
            run += self.counts.get(b, 0) - self.counts.get(b - width, 0)
            best = max(best, run)
        return best

    def summary(self) -> dict[str, float]:
        total = sum(self.counts.values())
        span = (max(self.counts) - min(self.counts) + 1) * BUCKET_S if self.counts else 0.0
        return {"requests": total, "span_s": round(span, 3), "busiest_1s": self.busiest(1.0)}
