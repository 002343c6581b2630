"""Request models of the public and internal task endpoints (validated with pydantic).

Query strings arrive as text and are converted (an integer in its plain decimal form);
JSON bodies are strict about types, so "12" is not a task id there, while 12.0 is (JSON
Schema calls it an integer). Field types come from chalicelib/fields.py, which describes
each rule in the JSON Schema that /openapi.json shows.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from chalicelib import texts
from chalicelib.domain.task import FINAL_STATUSES, TaskStatus, TaskType
from chalicelib.fields import (CallbackUrl, Choice, Id, IntField, QueryId, QueryInt, Text,
                               exactly_one)

MAX_IDS = 500

UserTaskId = Text(64)
StationId = Text(16)


class _Model(BaseModel):
    """Unknown fields are ignored (the description allows them); strings are stripped by
    their `Text` type after its checks."""
    model_config = ConfigDict(extra="ignore")


def _exactly_one(a: Any, b: Any, names: tuple[str, str]) -> None:
    if bool(a) == bool(b):
        raise texts.invalid(texts.EXACTLY_ONE, a=names[0], b=names[1])


class TaskGetQuery(_Model):
    model_config = ConfigDict(json_schema_extra={
        **exactly_one({"task_id": {}}, {"user_task_id": {}}), "examples": [{"task_id": 7}]})
    task_id: Optional[QueryId] = None
    user_task_id: Optional[Text(64, strict=False)] = None

    @model_validator(mode="after")
    def _one(self) -> "TaskGetQuery":
        _exactly_one(self.task_id, self.user_task_id, ("task_id", "user_task_id"))
        return self


class TaskListQuery(_Model):
    type: Optional[Choice(TaskType, query=True, description="0 import, 1 export, 2 process")] = None
    status: Optional[Choice(TaskStatus, query=True, description=(
        "1 submitted, 2 running, 3 finished, 4 partial success, 5 failed"))] = None
    q: Optional[Text(64, required=False, strict=False, description=(
        "search: tasks whose user_task_id starts with it, or whose task_name (any case) or "
        "business_name contains it"))] = None
    limit: Optional[QueryInt(ge=1, description="default 20")] = None   # maximum: settings
    cursor: Optional[QueryInt(gt=0, lt=2**63, description=(
        "next_cursor of the previous page: the page holds the tasks after it (older)"))] = None
    offset: QueryInt(ge=0, le=100_000, description="tasks to skip (after the cursor, if any)"
                     ) = 0


class TaskFailuresQuery(_Model):
    task_id: QueryId
    cursor: Optional[QueryInt(ge=0, lt=2**31, description=(
        "next_cursor of the previous page: the failures after it"))] = None
    limit: QueryInt(ge=1, le=100) = 20


class TaskIdsBody(_Model):
    """clear_show and cancel: task_ids or user_task_ids, exactly one of the two non-empty."""
    model_config = ConfigDict(json_schema_extra=exactly_one(
        {"task_ids": {"minItems": 1}}, {"user_task_ids": {"minItems": 1}}))
    task_ids: Annotated[list[Id], Field(max_length=MAX_IDS)] = []
    user_task_ids: Annotated[list[UserTaskId], Field(max_length=MAX_IDS)] = []

    @model_validator(mode="after")
    def _one(self) -> "TaskIdsBody":
        _exactly_one(self.task_ids, self.user_task_ids, ("task_ids", "user_task_ids"))
        return self


class TaskRetryBody(_Model):
    task_id: Id


# -- internal API (worker-side processes, seed's task/add ... task/get) ---------------
class InternalAdd(_Model):
    station_id: StationId
    name: Text(64)
    type: Choice(TaskType, description="0 import, 1 export, 2 process")
    input: Any = Field(default_factory=dict)
    user_task_id: Optional[UserTaskId] = None
    repeat: StrictBool = False
    message_show: StrictBool = True
    business_id: IntField(ge=0, lt=2**31) = 0
    business_name: Text(64, required=False) = ""
    callback_url: Optional[CallbackUrl()] = None


class InternalRef(_Model):
    station_id: StationId
    task_id: Id


class InternalFinish(InternalRef):
    status: Choice(FINAL_STATUSES, description="3 finished, 4 partial success, 5 failed"
                   ) = TaskStatus.FINISHED
    result: Any = None
    reason: Optional[Text(1024, required=False)] = None


class InternalUpdate(InternalRef):
    status: Optional[Choice(TaskStatus, description="the status to move to (a legal "
                                                    "transition, else 409)")] = None
    result: Any = None
    progress: Optional[IntField(ge=0, le=100)] = None
    reason: Optional[Text(1024, required=False)] = None


# -- the import page (chalicelib/api/import_views.py, docs/imports.md "Spreadsheets") --------
SPREADSHEET_NAME = r"\.([xX][lL][sS][xX]|[cC][sS][vV])$"
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class ImportPreviewBody(_Model):
    """An uploaded spreadsheet; content_base64's maxLength is IMPORT_FILE_MAX_MB's base64
    length (added by api/openapi.py)."""
    file_name: Annotated[StrictStr, Field(max_length=255, pattern=SPREADSHEET_NAME,
                                          description="the file's name, ending .xlsx or .csv")]
    content_base64: Annotated[StrictStr, Field(min_length=4, pattern=BASE64, description=(
        "the file's bytes, base64 (standard alphabet, padded): an .xlsx workbook or a CSV"
        " (UTF-8 or GB18030) whose header row names the template's columns"))]


class ImportTemplateQuery(_Model):
    format: Literal["xlsx", "csv"] = "xlsx"
