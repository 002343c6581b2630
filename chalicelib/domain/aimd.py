"""The product center budget's arithmetic, as pure functions (no clock, no I/O).

Two pieces, both stepped by chalicelib/service/budget.py with the shared row of
chalicelib/adapters/budget_repo.py:

- **Reservation** (`reserve`): a token bucket kept as one "theoretical arrival time" (GCRA).
  Taking `n` tokens at `rate` moves the row's `tat` on by n/rate seconds; the caller may
  use its tokens at start, start + 1/rate, ... (`Grant`). Idle time lets `tat` fall behind
  the clock by at most `burst_s`, so the platform never sends more than
  rate x (window + burst_s) calls in any window, however many workers reserve.
- **AIMD** (`step`): under the configured ceiling the rate backs off multiplicatively on
  congestion (429s, errors or timeouts, or latency well above its recent baseline) once
  per round trip (a report counts only if it was all seen after the last cut), by
  `decrease` or, when a share f of the calls was refused, by 1 - f (down to `deepest`);
  it grows additively, `increase_per_s` per second, while healthy calls are made; never
  below `floor` nor above `ceiling` (TCP's AIMD, Netflix's concurrency-limits' AIMDLimit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AimdConfig:
    ceiling: float                  # PRODUCT_CENTER_RATE: calls/s never exceeded
    floor: float = 1.0              # the rate never goes below this (keeps probing)
    decrease: float = 0.9           # multiplicative factor on congestion (at most)
    deepest: float = 0.5            # the largest single cut (when most calls were refused)
    increase_per_s: float = 10.0    # additive growth, calls/s per second of healthy use
    latency_ratio: float = 2.0      # latency this many times its baseline is congestion ...
    latency_margin_s: float = 0.05  # ... and at least this much above it (noise at ~0 ms)
    error_share: float = 0.05       # 5xx/timeouts above this share of calls are congestion


@dataclass(frozen=True)
class Health:
    """What one worker saw of the product center since its last reservation."""
    calls: int = 0
    throttled: int = 0              # 429 answers
    errors: int = 0                 # 5xx, timeouts, broken connections
    latency_s: float = 0.0          # mean latency of the answered calls
    baseline_s: float = 0.0         # that worker's recent low latency (0: none yet)
    since_s: float = 0.0            # when these observations began
    previous_s: float = 0.0         # that worker's mean latency in its report before (0: none)

    def slow(self, cfg: AimdConfig) -> bool:
        """Latency well above the baseline (a queue builds up at the downstream)."""
        return (self.baseline_s > 0 and self.calls > 0
                and self.latency_s > cfg.latency_ratio * self.baseline_s
                and self.latency_s - self.baseline_s > cfg.latency_margin_s)

    def congested(self, cfg: AimdConfig) -> bool:
        if self.throttled > 0:
            return True
        if self.errors > max(1.0, cfg.error_share * self.calls):
            return True
        # slow and still getting slower: the queue grows. Slow but faster than before: it
        # drains after a cut, and cutting again for the same queue would overshoot.
        return self.slow(cfg) and (self.previous_s <= 0 or self.latency_s >= self.previous_s)

    def cut(self, cfg: AimdConfig) -> float:
        """The multiplicative factor: cfg.decrease, or deeper when a large share of the
        calls was refused (the downstream took only that share: go there at once)."""
        if self.calls and self.throttled:
            return max(cfg.deepest, min(cfg.decrease, 1.0 - self.throttled / self.calls))
        return cfg.decrease


@dataclass(frozen=True)
class RateState:
    rate: float
    updated_s: float                # when the rate was last stepped
    decreased_s: float              # when it was last decreased


def clamp(rate: float, cfg: AimdConfig) -> float:
    return min(cfg.ceiling, max(cfg.floor, rate))


def step(state: RateState, health: Health, now_s: float, cfg: AimdConfig) -> RateState:
    """The rate after one worker's report.

    A report decreases the rate only if all of it was seen after the last decrease (the
    congestion it shows is not one already answered: one cut per round trip, however
    many workers report it), and increases it only when healthy and after that too."""
    rate = clamp(state.rate, cfg)
    fresh = health.since_s >= state.decreased_s
    if health.congested(cfg):
        if fresh:
            return RateState(clamp(rate * health.cut(cfg), cfg), now_s, now_s)
        return replace(state, rate=rate, updated_s=now_s)
    if health.slow(cfg):            # draining: hold the rate until latency is back
        return replace(state, rate=rate, updated_s=now_s)
    if health.calls > 0 and fresh:
        # Additive in wall time: reports of many workers add up to increase_per_s per second.
        elapsed = max(0.0, now_s - max(state.updated_s, health.since_s))
        rate = clamp(rate + cfg.increase_per_s * min(elapsed, 1.0), cfg)
    return replace(state, rate=rate, updated_s=now_s)


@dataclass(frozen=True)
class Grant:
    """n tokens, the i-th usable from start_s + i * interval_s."""
    start_s: float
    interval_s: float
    n: int


def reserve(tat_s: float, now_s: float, n: int, rate: float, burst_s: float
            ) -> tuple[Grant, float]:
    """Take n tokens from the bucket whose theoretical arrival time is tat_s.

    Returns the grant and the new tat."""
    if n < 1 or rate <= 0:
        raise ValueError("n >= 1 and rate > 0")
    start = max(tat_s, now_s - burst_s)
    interval = 1.0 / rate
    return Grant(start, interval, n), start + n * interval


def next_slot(grant: Grant, taken: int, now_s: float, grace_s: float) -> tuple[int, float] | None:
    """The next token of a grant from which `taken` were used or skipped: (its index,
    its time), or None when the grant is used up. Tokens older than grace_s are skipped
    (spent: a token used late would add to a later window's calls)."""
    late = math.ceil((now_s - grace_s - grant.start_s) / grant.interval_s - 1e-9)
    index = max(taken, late)
    if index >= grant.n:
        return None
    return index, grant.start_s + index * grant.interval_s


def next_block(previous: int, used: int, exhausted: bool, largest: int, smallest: int = 1
               ) -> int:
    """Block size of a worker's next reservation: doubles while the worker uses whole
    blocks, shrinks to what it used when tokens went unused (an idle or slow worker does
    not hold slots others could use), never below `smallest` (its threads: one block
    serves every waiting thread at once) nor above `largest`."""
    size = previous * 2 if exhausted and used >= previous else used
    return max(1, min(largest, max(smallest, size)))


def ewma(previous: float, value: float, elapsed_s: float, tau_s: float) -> float:
    """Exponentially weighted average with time constant tau_s (irregular samples)."""
    alpha = 1.0 - math.exp(-max(0.0, elapsed_s) / tau_s)
    return previous + alpha * (value - previous)
