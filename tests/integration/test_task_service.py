"""The task service against the real MariaDB: transitions, repeat semantics, races."""
import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.bootstrap import services
from chalicelib.domain.task import IllegalTransition, TaskStatus
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.service.tasks import NewTask
from tests.factories import make_task, raw_row


def new(**kw):
    base = dict(station_id="s001", name="import_orders", type=0, input={"rows": 3})
    base.update(kw)
    return NewTask(**base)


def test_lifecycle_start_then_finish_stamps_times_and_counts_runs(db_clean):
    svc = services().tasks
    task = svc.create(new()).task
    assert task.status == TaskStatus.SUBMITTED and task.run_count == 0
    assert task.start_time is None and task.creat_time is not None
    started = svc.start("s001", task.id)
    assert started.status == TaskStatus.RUNNING and started.run_count == 1
    assert started.start_time is not None
    again = svc.start("s001", task.id)          # idempotent while running
    assert again.run_count == 1 and again.start_time == started.start_time
    done = svc.finish("s001", task.id, status=TaskStatus.PARTIAL, result={"ok": 2},
                      reason="1 row failed")
    assert done.status == TaskStatus.PARTIAL and done.result == {"ok": 2}
    assert done.reason == "1 row failed" and done.end_time is not None


def test_illegal_transitions_are_refused_and_change_nothing(db_clean):
    svc = services().tasks
    task = svc.create(new()).task
    with pytest.raises(IllegalTransition):
        svc.finish("s001", task.id, status=TaskStatus.FINISHED)   # not started
    assert raw_row(task.id).status == TaskStatus.SUBMITTED
    svc.start("s001", task.id)
    svc.finish("s001", task.id, status=TaskStatus.FINISHED)
    with pytest.raises(IllegalTransition):
        svc.start("s001", task.id)
    with pytest.raises(IllegalTransition):
        svc.update("s001", task.id, status=TaskStatus.FAILED)
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.progress == 100


def test_finish_needs_a_final_status(db_clean):
    svc = services().tasks
    task = svc.create(new()).task
    svc.start("s001", task.id)
    with pytest.raises(InvalidInput):
        svc.finish("s001", task.id, status=TaskStatus.RUNNING)


def test_update_sets_progress_result_reason(db_clean):
    svc = services().tasks
    task = svc.create(new()).task
    svc.start("s001", task.id)
    row = svc.update("s001", task.id, progress=40, result={"k": "v"}, reason="working")
    assert (row.progress, row.result, row.reason) == (40, {"k": "v"}, "working")


def test_repeat_zero_returns_the_open_task(db_clean):
    svc = services().tasks
    first = svc.create(new(user_task_id="u1"))
    second = svc.create(new(user_task_id="u1", input={"rows": 99}))
    assert first.created and not second.created and second.task.id == first.task.id
    # another name or station is another task
    assert svc.create(new(user_task_id="u1", name="other")).created
    assert svc.create(new(user_task_id="u1", station_id="s002")).created
    # once finished, the same key starts a new task
    svc.start("s001", first.task.id)
    svc.finish("s001", first.task.id)
    third = svc.create(new(user_task_id="u1"))
    assert third.created and third.task.id != first.task.id


def test_repeat_one_always_creates(db_clean):
    svc = services().tasks
    a = svc.create(new(user_task_id="u1", repeat=True))
    b = svc.create(new(user_task_id="u1", repeat=True))
    assert a.created and b.created and a.task.id != b.task.id


def test_repeat_zero_is_race_free(db_clean):
    svc = services().tasks
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: svc.create(new(user_task_id="race")), range(16)))
    assert len({r.task.id for r in results}) == 1
    assert sum(r.created for r in results) == 1


def test_get_scoped_by_station(db_clean):
    task = make_task(station_id="s002")
    with pytest.raises(NotFound):
        services().tasks.get("s001", task_id=task.id)
    with pytest.raises(NotFound):
        services().tasks.start("s001", task.id)
    assert raw_row(task.id).status == TaskStatus.SUBMITTED


def test_update_to_running_starts_the_task_once(db_clean):
    svc = services().tasks
    task = svc.create(new()).task
    row = svc.update("s001", task.id, status=TaskStatus.RUNNING, progress=5)
    assert (row.status, row.run_count, row.progress) == (TaskStatus.RUNNING, 1, 5)
    assert row.start_time is not None
    again = svc.update("s001", task.id, status=TaskStatus.RUNNING)
    assert again.run_count == 1


def test_a_status_move_from_a_stale_row_hits_no_row_and_rolls_back(db_clean):
    """lifecycle checks the row count of its conditional UPDATE (finish included)."""
    from chalicelib.adapters import task_repo
    from chalicelib.service import lifecycle
    svc = services()
    task = svc.tasks.create(new()).task

    def finish_from_a_stale_copy(cur):
        locked = task_repo.get_any_station(cur, task.id, for_update=True)
        stale = dataclasses.replace(locked, status=TaskStatus.RUNNING)   # believes it runs: no
        task_repo.update_fields(cur, task.id, {"progress": 7})
        lifecycle.finish(cur, stale, TaskStatus.FINISHED)
    with pytest.raises(lifecycle.StaleTask):
        svc.db.run(finish_from_a_stale_copy)
    row = raw_row(task.id)
    assert (row.status, row.progress) == (TaskStatus.SUBMITTED, 0)    # all rolled back

    def start_twice_from_one_copy(cur):
        locked = task_repo.get_any_station(cur, task.id, for_update=True)
        assert lifecycle.start(cur, locked)
        lifecycle.start(cur, locked)        # the copy still says submitted
    with pytest.raises(lifecycle.StaleTask):
        svc.db.run(start_twice_from_one_copy)
    assert raw_row(task.id).status == TaskStatus.SUBMITTED


# -- identifiers compare byte for byte (migration 0009), not case-, accent-, emoji- or
# trailing-space-insensitively
def _with_user_id(user_task_id: str, station: str = "s001") -> NewTask:
    return NewTask(station_id=station, name="product_copy", type=2, input={},
                   user_task_id=user_task_id)


def test_user_task_ids_differing_in_case_accent_emoji_or_space_are_different(db_clean):
    tasks = services().tasks
    assert tasks.create(_with_user_id("a")).created
    assert tasks.create(_with_user_id("😀")).created
    for other in ("A", "á", "a ", "😁"):
        created = tasks.create(_with_user_id(other))
        assert created.created, f"{other!r} found the open task {created.task.user_task_id!r}"
        assert created.task.user_task_id == other
    assert not tasks.create(_with_user_id("a")).created          # the same id still finds its task
    assert tasks.get("s001", user_task_id="A").user_task_id == "A"
    assert tasks.get("s001", user_task_id="😁").user_task_id == "😁"


def test_station_ids_compare_byte_for_byte(db_clean):
    tasks = services().tasks
    task = tasks.create(_with_user_id("x", station="s001")).task
    for other in ("S001", "s001 "):
        with pytest.raises(NotFound):
            tasks.get(other, task_id=task.id)
        with pytest.raises(NotFound):
            tasks.get(other, user_task_id="x")
