"""The chunk-state and detail-outcome tables, and the engine's run result."""
from __future__ import annotations

import json

import pytest

from chalicelib.domain.chunk import (REOPENED_OUTCOMES, ChunkState, Outcome, chunk_can_move,
                                     chunk_sources, outcome_can_move)
from chalicelib.domain.run import RunResult

C = ChunkState

# Every move adapters/chunk_repo.py makes, by function: the table must allow each one.
REPO_MOVES = [
    (C.PENDING, C.QUEUED),      # insert_plan window, queue_next_pending
    (C.PENDING, C.RUNNING),     # claim
    (C.QUEUED, C.RUNNING),      # claim
    (C.RUNNING, C.RUNNING),     # claim of an expired lease (takeover)
    (C.RUNNING, C.QUEUED),      # release, requeue_expired_leases
    (C.QUEUED, C.QUEUED),       # requeue_stale_queued (message re-sent)
    (C.RUNNING, C.DONE),        # complete
    (C.RUNNING, C.FAILED),      # mark_failed
    (C.DONE, C.PENDING),        # reopen_unsucceeded (retry)
    (C.FAILED, C.PENDING),      # reopen_unsucceeded (retry)
]


@pytest.mark.parametrize("current,target", REPO_MOVES)
def test_chunk_moves_the_repo_makes_are_legal(current, target):
    assert chunk_can_move(current, target)


def test_every_other_chunk_move_is_illegal():
    legal = set(REPO_MOVES)
    for current in C:
        for target in C:
            assert chunk_can_move(current, target) == ((current, target) in legal), (current, target)


def test_chunk_sources_and_finality():
    assert chunk_sources(C.DONE) == (int(C.RUNNING),)
    assert chunk_sources(C.FAILED) == (int(C.RUNNING),)
    assert set(chunk_sources(C.RUNNING)) == {int(C.PENDING), int(C.QUEUED), int(C.RUNNING)}
    assert [s for s in C if s.is_final] == [C.DONE, C.FAILED]


@pytest.mark.parametrize("outcome", list(Outcome))
def test_a_pending_detail_takes_any_outcome_once(outcome):
    assert outcome_can_move(None, outcome)
    assert not any(outcome_can_move(outcome, other) for other in Outcome)


def test_only_failed_and_cancelled_details_reopen():
    assert REOPENED_OUTCOMES == (Outcome.FAILED, Outcome.CANCELLED)
    assert not outcome_can_move(Outcome.SUCCEEDED, None)
    assert all(outcome_can_move(o, None) for o in REOPENED_OUTCOMES)


def test_run_result_requeue_rules():
    assert {r for r in RunResult if r.requeues} == {RunResult.DEADLINE, RunResult.SLICED,
                                                    RunResult.UNAVAILABLE}
    assert {r for r in RunResult if r.counts_attempt} == {RunResult.UNAVAILABLE}


def test_run_result_is_its_plain_value_in_logs():
    assert json.dumps({"r": RunResult.COMPLETE}) == '{"r": "complete"}'
    assert f"{RunResult.LEASE_LOST}" == "lease_lost"
