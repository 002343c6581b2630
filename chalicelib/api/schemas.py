"""Request models of the public and internal task endpoints (validated with pydantic).

Query strings arrive as text and are converted; JSON bodies are strict about types, so
"12" is not a task id there.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from chalicelib.domain.task import TaskStatus, TaskType

MAX_IDS = 500

TaskId = Annotated[StrictInt, Field(gt=0)]
UserTaskId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


def _exactly_one(a: Any, b: Any, names: str) -> None:
    if bool(a) == bool(b):
        raise ValueError(f"give exactly one of {names}")


class TaskGetQuery(_Model):
    task_id: Optional[Annotated[int, Field(gt=0, lt=2**63)]] = None
    user_task_id: Optional[Annotated[str, Field(min_length=1, max_length=64)]] = None

    @model_validator(mode="after")
    def _one(self) -> "TaskGetQuery":
        _exactly_one(self.task_id, self.user_task_id, "task_id or user_task_id")
        return self


class TaskListQuery(_Model):
    type: Optional[TaskType] = None
    status: Optional[TaskStatus] = None
    limit: Optional[Annotated[int, Field(ge=1)]] = None
    offset: Annotated[int, Field(ge=0, le=100_000)] = 0


class TaskIdsBody(_Model):
    """clear_show and cancel: task_ids or user_task_ids, one of the two."""
    task_ids: Annotated[list[TaskId], Field(max_length=MAX_IDS)] = []
    user_task_ids: Annotated[list[UserTaskId], Field(max_length=MAX_IDS)] = []

    @model_validator(mode="after")
    def _one(self) -> "TaskIdsBody":
        _exactly_one(self.task_ids, self.user_task_ids, "task_ids or user_task_ids")
        return self


class TaskRetryBody(_Model):
    task_id: TaskId


# -- internal API (worker-side processes, seed's task/add ... task/get) ---------------
class InternalAdd(_Model):
    station_id: Annotated[StrictStr, Field(min_length=1, max_length=16)]
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    type: TaskType
    input: Any = Field(default_factory=dict)
    user_task_id: Optional[UserTaskId] = None
    repeat: bool = False
    message_show: bool = True
    business_id: Annotated[StrictInt, Field(ge=0, lt=2**31)] = 0
    business_name: Annotated[StrictStr, Field(max_length=64)] = ""


class InternalRef(_Model):
    station_id: Annotated[StrictStr, Field(min_length=1, max_length=16)]
    task_id: TaskId


class InternalFinish(InternalRef):
    status: TaskStatus = TaskStatus.FINISHED
    result: Any = None
    reason: Optional[Annotated[StrictStr, Field(max_length=1024)]] = None


class InternalUpdate(InternalRef):
    status: Optional[TaskStatus] = None
    result: Any = None
    progress: Optional[Annotated[StrictInt, Field(ge=0, le=100)]] = None
    reason: Optional[Annotated[StrictStr, Field(max_length=1024)]] = None
