import pytest

from chalicelib.domain.chunking import plan_chunks
from chalicelib.domain.task import (IllegalTransition, TaskStatus, check_transition,
                                    outcome_status, progress_percent, sources_of)
from chalicelib.errors import Conflict

S = TaskStatus


@pytest.mark.parametrize("current,target", [
    (S.SUBMITTED, S.RUNNING), (S.SUBMITTED, S.FAILED), (S.RUNNING, S.RUNNING),
    (S.RUNNING, S.FINISHED), (S.RUNNING, S.PARTIAL), (S.RUNNING, S.FAILED)])
def test_legal_transitions(current, target):
    assert check_transition(current, target) == target


@pytest.mark.parametrize("current,target", [
    (S.SUBMITTED, S.FINISHED), (S.SUBMITTED, S.PARTIAL), (S.FINISHED, S.RUNNING),
    (S.FAILED, S.FINISHED), (S.PARTIAL, S.RUNNING), (S.RUNNING, S.SUBMITTED),
    (S.FINISHED, S.FINISHED)])
def test_illegal_transitions_are_refused(current, target):
    with pytest.raises(IllegalTransition) as err:
        check_transition(current, target)
    assert isinstance(err.value, Conflict)
    assert str(int(current)) in err.value.msg and str(int(target)) in err.value.msg


def test_sources_of_final_status_is_running_only():
    assert sources_of(S.FINISHED) == (int(S.RUNNING),)
    assert set(sources_of(S.FAILED)) == {int(S.SUBMITTED), int(S.RUNNING)}


@pytest.mark.parametrize("total,ok,failed,expected", [
    (10, 10, 0, S.FINISHED), (10, 7, 3, S.PARTIAL), (10, 0, 10, S.FAILED), (0, 0, 0, S.FINISHED)])
def test_outcome_status(total, ok, failed, expected):
    assert outcome_status(total, ok, failed) == expected


@pytest.mark.parametrize("total,done,expected", [
    (0, 0, 0), (1000, 0, 0), (1000, 1, 0), (1000, 10, 1), (1000, 999, 99), (1000, 1000, 100),
    (3, 1, 33), (3, 2, 66), (100_000, 99_999, 99)])
def test_progress_is_floor_and_reaches_100_only_when_done(total, done, expected):
    assert progress_percent(total, done, 0) == expected
    assert progress_percent(total, 0, done) == expected


@pytest.mark.parametrize("n,size,sizes", [
    (1, 1000, [1]), (1000, 1000, [1000]), (1001, 1000, [1000, 1]), (2500, 1000, [1000, 1000, 500]),
    (100_000, 1000, [1000] * 100), (7, 3, [3, 3, 1])])
def test_plan_chunks_sizes_and_remainders(n, size, sizes):
    ids = list(range(10, 10 + n))
    plan = plan_chunks(ids, size)
    assert [c.item_count for c in plan] == sizes
    assert [c.seq for c in plan] == list(range(len(sizes)))
    assert [c.first_item for c in plan] == [i * size for i in range(len(sizes))]
    assert [i for c in plan for i in c.item_ids] == ids


def test_plan_chunks_rejects_bad_size_and_handles_empty():
    assert plan_chunks([], 1000) == []
    with pytest.raises(ValueError):
        plan_chunks([1], 0)
