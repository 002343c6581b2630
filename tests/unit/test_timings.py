"""Timings sums per-call durations and publishes count, mean and peak once per invocation."""
from __future__ import annotations

from chalicelib.observability import Timings


def test_observed_durations_publish_count_average_and_peak():
    t = Timings()
    for seconds in (0.002, 0.010, 0.003):
        t.observe("Downstream", seconds)
    t.count("DownstreamRetries")
    published = t.publish()
    assert published["DownstreamCount"] == 3
    assert abs(published["DownstreamAvgMs"] - 5.0) < 1e-9
    assert abs(published["DownstreamMaxMs"] - 10.0) < 1e-9
    assert published["DownstreamRetries"] == 1
    assert t.publish() == {}            # each invocation starts again
