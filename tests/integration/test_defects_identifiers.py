"""#13 item 7: identifiers compare byte for byte (migration 0009), not case-, accent-,
emoji- or trailing-space-insensitively."""
from __future__ import annotations

import pytest

from chalicelib.bootstrap import services
from chalicelib.errors import NotFound
from chalicelib.service.tasks import NewTask


def _new(user_task_id: str, station: str = "s001") -> NewTask:
    return NewTask(station_id=station, name="product_copy", type=2, input={},
                   user_task_id=user_task_id)


def test_user_task_ids_differing_in_case_accent_emoji_or_space_are_different(db_clean):
    tasks = services().tasks
    assert tasks.create(_new("a")).created
    assert tasks.create(_new("😀")).created
    for other in ("A", "á", "a ", "😁"):
        created = tasks.create(_new(other))
        assert created.created, f"{other!r} found the open task {created.task.user_task_id!r}"
        assert created.task.user_task_id == other
    assert not tasks.create(_new("a")).created          # the same id still finds its task
    assert tasks.get("s001", user_task_id="A").user_task_id == "A"
    assert tasks.get("s001", user_task_id="😁").user_task_id == "😁"


def test_station_ids_compare_byte_for_byte(db_clean):
    tasks = services().tasks
    task = tasks.create(_new("x", station="s001")).task
    for other in ("S001", "s001 "):
        with pytest.raises(NotFound):
            tasks.get(other, task_id=task.id)
        with pytest.raises(NotFound):
            tasks.get(other, user_task_id="x")
