"""The budget's arithmetic: AIMD steps, reservations and block sizes (pure functions)."""
from __future__ import annotations

import pytest

from chalicelib.domain.aimd import (AimdConfig, Grant, Health, RateState, ewma, next_block,
                                    next_slot, reserve, step)

CFG = AimdConfig(ceiling=200, floor=5, decrease=0.5, increase_per_s=10)


def healthy(since: float) -> Health:
    return Health(calls=20, latency_s=0.05, baseline_s=0.05, since_s=since)


def test_healthy_use_grows_additively_per_second_and_stops_at_the_ceiling():
    s = step(RateState(100, 10.0, 0.0), healthy(10.0), 10.5, CFG)
    assert s.rate == pytest.approx(105) and s.updated_s == 10.5
    s = step(s, healthy(10.5), 11.0, CFG)
    assert s.rate == pytest.approx(110)
    assert step(RateState(199, 10.0, 0.0), healthy(10.0), 11.0, CFG).rate == 200


def test_growth_needs_calls_and_counts_at_most_a_second_of_idle_time():
    assert step(RateState(100, 10.0, 0.0), Health(since_s=10.0), 11.0, CFG).rate == 100
    assert step(RateState(100, 10.0, 0.0), healthy(10.0), 70.0, CFG).rate == pytest.approx(110)


@pytest.mark.parametrize("health", [
    Health(calls=20, throttled=1, latency_s=0.05, baseline_s=0.05, since_s=10.0),   # a 429
    Health(calls=20, errors=2, latency_s=0.05, baseline_s=0.05, since_s=10.0),      # 10 % errors
    Health(calls=20, latency_s=0.30, baseline_s=0.05, since_s=10.0),                # latency x 6
])
def test_congestion_cuts_the_rate(health):
    s = step(RateState(100, 10.0, 0.0), health, 11.0, CFG)
    assert (s.rate, s.decreased_s) == (50, 11.0)


def test_a_large_refused_share_cuts_deeper_down_to_the_deepest_cut():
    cfg = AimdConfig(ceiling=400, decrease=0.9, deepest=0.5)
    assert step(RateState(400, 0, 0), Health(calls=100, throttled=40, since_s=0.0), 1, cfg
                ).rate == pytest.approx(240)
    assert step(RateState(400, 0, 0), Health(calls=100, throttled=90, since_s=0.0), 1, cfg
                ).rate == pytest.approx(200)
    assert step(RateState(400, 0, 0), Health(calls=100, throttled=2, since_s=0.0), 1, cfg
                ).rate == pytest.approx(360)


def test_a_slow_downstream_that_drains_is_held_not_cut_again():
    rising = Health(calls=20, latency_s=0.30, baseline_s=0.05, since_s=10.0, previous_s=0.2)
    falling = Health(calls=20, latency_s=0.20, baseline_s=0.05, since_s=10.0, previous_s=0.3)
    assert step(RateState(100, 10.0, 0.0), rising, 11.0, CFG).rate == 50
    held = step(RateState(100, 10.0, 0.0), falling, 11.0, CFG)
    assert (held.rate, held.decreased_s, held.updated_s) == (100, 0.0, 11.0)


def test_noise_is_not_congestion():
    assert not Health(calls=100, errors=1, latency_s=0.05, baseline_s=0.05).congested(CFG)
    # twice the baseline but only a few ms above it (latency near zero)
    assert not Health(calls=100, latency_s=0.006, baseline_s=0.002).congested(CFG)
    assert not Health(calls=100, latency_s=0.05, baseline_s=0.0).congested(CFG)


def test_one_cut_per_round_trip_and_no_growth_on_stale_reports():
    s = step(RateState(100, 10.0, 0.0), Health(calls=20, throttled=3, since_s=10.0), 11.0, CFG)
    assert s.rate == 50
    # other workers report the same spike, seen (partly) before the cut: no second cut
    s = step(s, Health(calls=20, throttled=3, since_s=10.8), 11.2, CFG)
    assert s.rate == 50
    assert step(s, healthy(10.9), 11.3, CFG).rate == 50        # nor growth
    # a report all seen after the cut that is still congested cuts again
    assert step(s, Health(calls=20, throttled=3, since_s=11.1), 11.4, CFG).rate == 25


def test_the_rate_never_leaves_floor_and_ceiling():
    s = RateState(6, 0.0, 0.0)
    for t in range(1, 5):
        s = step(s, Health(calls=5, throttled=1, since_s=float(t * 2 - 1)), float(t * 2), CFG)
    assert s.rate == 5
    assert step(RateState(900, 0.0, 0.0), Health(), 1.0, CFG).rate == 200   # ceiling lowered


def test_a_sawtooth_converges_under_a_capacity():
    """Against a downstream that refuses what it gets above 150/s, from a 400/s ceiling."""
    cfg = AimdConfig(ceiling=400, floor=1, decrease=0.9, increase_per_s=10)
    s, rates, tick_s = RateState(400, 0.0, -10.0), [], 0.25
    for tick in range(1, 400):
        now = tick * tick_s
        calls = int(s.rate * tick_s)
        refused = max(0, calls - int(150 * tick_s))
        s = step(s, Health(calls=calls, throttled=refused, latency_s=0.05, baseline_s=0.05,
                           since_s=now - tick_s), now, cfg)
        rates.append(s.rate)
    assert rates[3] <= 160                            # there within a second
    tail = rates[40:]
    assert max(tail) <= 160 and min(tail) >= 120
    assert sum(min(r, 150) for r in tail) / len(tail) / 150 >= 0.9


def test_reservations_follow_each_other_and_idle_time_gives_at_most_the_burst():
    grant, tat = reserve(tat_s=100.0, now_s=100.0, n=50, rate=200, burst_s=0.02)
    assert (grant.start_s, grant.interval_s, tat) == (100.0, 0.005, pytest.approx(100.25))
    grant2, tat2 = reserve(tat, now_s=100.01, n=10, rate=200, burst_s=0.02)
    assert grant2.start_s == pytest.approx(100.25) and tat2 == pytest.approx(100.3)
    idle, _ = reserve(tat2, now_s=200.0, n=10, rate=200, burst_s=0.02)
    assert idle.start_s == pytest.approx(199.98)
    with pytest.raises(ValueError):
        reserve(0, 0, 0, 200, 0.02)


def test_slots_are_handed_out_in_order_and_late_ones_are_skipped():
    g = Grant(start_s=10.0, interval_s=0.1, n=5)
    assert next_slot(g, 0, 9.0, 0.02) == (0, 10.0)
    assert next_slot(g, 1, 10.0, 0.02) == (1, pytest.approx(10.1))
    assert next_slot(g, 1, 10.25, 0.02) == (3, pytest.approx(10.3))   # 1 and 2 expired
    assert next_slot(g, 5, 10.0, 0.02) is None
    assert next_slot(g, 0, 11.0, 0.02) is None                        # all expired


def test_block_size_doubles_while_used_and_shrinks_to_use():
    assert next_block(10, 10, True, 50) == 20
    assert next_block(40, 40, True, 50) == 50
    assert next_block(40, 7, False, 50) == 7
    assert next_block(4, 0, False, 50) == 1
    assert next_block(40, 3, False, 50, smallest=10) == 10      # one token per thread
    assert next_block(5, 5, True, 8, smallest=10) == 8          # the largest wins


def test_ewma_moves_by_elapsed_time():
    assert ewma(1.0, 2.0, 0.0, 5.0) == 1.0
    assert ewma(1.0, 2.0, 5.0, 5.0) == pytest.approx(1 + (1 - 0.36787944))
    assert ewma(1.0, 2.0, 1e6, 5.0) == pytest.approx(2.0)
