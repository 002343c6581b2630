"""Which of a station's tasks get its free chunk slots (pure)."""
from __future__ import annotations

from chalicelib.domain.fairness import TaskChunks, pick, starving


def test_slots_go_to_the_task_with_fewest_active_chunks_oldest_first():
    tasks = [TaskChunks(1, 3, 90), TaskChunks(2, 1, 40), TaskChunks(3, 0, 1)]
    assert pick(tasks, bound=6, window=4) == {3: 1, 2: 1}
    assert pick(tasks, bound=4, window=4) == {}                 # at the bound
    assert pick([TaskChunks(1, 0, 9), TaskChunks(2, 0, 9)], bound=4, window=4) == {1: 2, 2: 2}


def test_the_window_caps_each_task_and_pending_caps_what_is_taken():
    assert pick([TaskChunks(1, 0, 100)], bound=8, window=3) == {1: 3}
    assert pick([TaskChunks(1, 0, 1), TaskChunks(2, 0, 100)], bound=8, window=3) == {1: 1, 2: 3}
    assert pick([], bound=8, window=3) == {}


def test_a_yielding_task_comes_last_among_equals():
    tasks = [TaskChunks(1, 0, 50), TaskChunks(2, 0, 1)]
    assert pick(tasks, bound=1, window=4) == {1: 1}
    assert pick(tasks, bound=1, window=4, yielding=1) == {2: 1}


def test_starving_means_another_task_waits_with_nothing_active():
    assert starving([TaskChunks(1, 2, 50), TaskChunks(2, 0, 1)], besides=1)
    assert not starving([TaskChunks(1, 2, 50), TaskChunks(2, 1, 1)], besides=1)
    assert not starving([TaskChunks(1, 0, 50)], besides=1)
