"""When a chunk run gives its worker up (chalicelib/service/slices.py), with a fake clock."""
from __future__ import annotations

from chalicelib.service.slices import CHECK_EVERY_S, Slice


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_question_before_the_slice_is_used_then_at_most_every_check_interval():
    clock, asked = Clock(), []
    s = Slice(5.0, lambda: asked.append(clock.now) or False, clock)
    clock.now = 104.9
    assert not s.over() and asked == []
    clock.now = 105.0
    assert not s.over() and asked == [105.0]
    clock.now = 105.0 + CHECK_EVERY_S / 2
    assert not s.over() and len(asked) == 1                 # not asked again yet
    clock.now = 105.0 + CHECK_EVERY_S
    assert not s.over() and len(asked) == 2


def test_over_once_other_work_waits():
    clock = Clock()
    s = Slice(1.0, lambda: True, clock)
    assert not s.over()
    clock.now += 1.0
    assert s.over()


def test_zero_means_never_and_a_failing_check_keeps_running():
    clock = Clock()
    never = Slice(0, lambda: True, clock)
    clock.now += 1000
    assert not never.over()

    def broken() -> bool:
        raise RuntimeError("SQS down")
    s = Slice(1.0, broken, clock)
    clock.now += 2
    assert not s.over()
