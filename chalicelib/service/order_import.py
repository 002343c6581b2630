"""Order batch import (POST /station/order/batch/submit): creation and the per-row work.

Creation checks only the envelope (fields, row count, the station's operation cycle) and
stores, in one transaction, the task, a chunk plan over its row numbers (1-based) and the
raw rows in parts of the chunk size (tbl_order_import_part); no order is inserted in the
request. The worker validates each row of its chunk and
inserts the good ones with their lines, a batch of rows per transaction that also records
their outcomes under the chunk's lease (the engine's BatchProcessor hook). A bad row fails
with "第 N 行：<field> <problem in Chinese>（<in English>）" (service/import_reasons.py);
the task ends 3, 4 or 5 with the usual error report.

Idempotency: an order remembers its import task and row (tbl_order's unique import-row
key), so a re-delivered or re-run chunk never inserts an order twice.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from chalicelib import texts
from chalicelib.adapters import order_import_repo, order_repo
from chalicelib.adapters.chunk_repo import utcnow
from chalicelib.adapters.db import Database
from chalicelib.domain.chunk import DetailOutcome, Outcome
from chalicelib.adapters.order_import_repo import NewOrder, NewOrderLine
from chalicelib.domain.task import Task, TaskType
from chalicelib.fields import CallbackUrl, LocalDateTime, Text as FieldText
from chalicelib.errors import InvalidInput, NotFound, TooLarge
from chalicelib.service.engine import Engine
from chalicelib.service.import_reasons import row_label, row_reason
from chalicelib.service.processors import WorkItem
from chalicelib.service.tasks import Created, NewTask, TaskService

TASK_NAME = "order_import"
BUSINESS_NAME = "订单批量导入"
BUSINESS_ID = 3002
MAX_LINES = 200                       # lines per order
NEW_ORDER_STATUS = 1                  # 待确认 (the export's status labels)
LOCAL_TIME = dt.timezone(dt.timedelta(hours=8))   # China Standard Time: no DST
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("999999999999.99")          # DECIMAL(14, 2)


def Text(lo: int, hi: int) -> Any:
    return Annotated[StrictStr, Field(min_length=lo, max_length=hi)]


def Code(lo: int, hi: int) -> Any:
    """A code; spreadsheet cells often hold codes as numbers (customer_id 1001, sku 20031)."""
    return Annotated[str, Field(min_length=lo, max_length=hi, coerce_numbers_to_str=True)]


DateTimeText = LocalDateTime(1970, 9999, text=texts.DATETIME_SHORT)


class OrderLineRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    sku: Code(1, 64)
    name: Text(1, 255)
    unit: Text(0, 16) = ""
    quantity: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class OrderRow(BaseModel):
    """One element of order_data: an order with its lines (docs/imports.md)."""
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    customer_name: Text(1, 128)
    customer_id: Code(0, 32) = ""
    address: Text(0, 255) = ""
    area: Text(0, 64) = ""
    receive_time: DateTimeText
    order_time: Optional[DateTimeText] = None
    remark: Text(0, 255) = ""
    lines: Annotated[list[OrderLineRow], Field(min_length=1, max_length=MAX_LINES)]
    source_rows: Annotated[Optional[str], Field(max_length=32, description=(
        "where the order is in an uploaded spreadsheet (\"3\" or \"3-5\", set by"
        " /station/order/batch/preview); named in the row's reason"))] = None

    @model_validator(mode="after")
    def _check(self) -> "OrderRow":
        if self.order_time is not None and self.receive_time < self.order_time:
            raise texts.invalid(texts.RECEIVE_BEFORE_ORDER)
        if sum((amount(line) for line in self.lines), Decimal(0)) > _MAX_AMOUNT:
            raise texts.invalid(texts.AMOUNT_TOO_LARGE, limit=_MAX_AMOUNT)
        return self


class OrderBatchSubmit(BaseModel):
    """Body of POST /station/order/batch/submit (the seed's fields). order_data's maxItems
    is the setting ORDER_IMPORT_MAX_ROWS (added to the description by api/openapi.py)."""
    model_config = ConfigDict(extra="ignore")
    task_id: FieldText(64, description="the caller's task id (user_task_id)")
    time_config_id: FieldText(32, description="operation cycle (运营周期) id")
    order_data: Annotated[list[Any], Field(
        description="orders, one per row, each an OrderRow (components/schemas/OrderRow). The"
                    " worker checks each row: a bad row (of any JSON value) fails alone with"
                    " its row number in the error report, the good rows are imported",
        json_schema_extra={"minItems": 1, "items": {
            "description": "an OrderRow, checked by the worker"}})]
    file_name: FieldText(255)
    callback_url: Optional[CallbackUrl()] = None


def amount(line: OrderLineRow) -> Decimal:
    return (line.quantity * line.unit_price).quantize(_CENT, rounding=ROUND_HALF_UP)


def order_no(task_id: int, row_no: int) -> str:
    """Deterministic, so a re-run row gets the same number: I<task id>-<row no>."""
    return f"I{task_id}-{row_no}"


def cycle_start(time_config: dict[str, Any], order_time: dt.datetime) -> dt.datetime:
    """Start of the operation cycle an order placed at `order_time` belongs to: the latest
    daily boundary (the config's cycle_start time of day) at or before it."""
    start = time_config["cycle_start"]          # pymysql gives TIME as a timedelta
    offset = start if isinstance(start, dt.timedelta) else dt.timedelta(
        hours=start.hour, minutes=start.minute, seconds=start.second)
    day = (order_time - offset).date()
    return dt.datetime.combine(day, dt.time()) + offset


def to_new_order(task_id: int, row_no: int, row: OrderRow, time_config: dict[str, Any],
                 default_order_time: dt.datetime) -> NewOrder:
    order_time = row.order_time or default_order_time
    lines = [NewOrderLine(sku=ln.sku, name=ln.name, unit=ln.unit, quantity=ln.quantity,
                          unit_price=ln.unit_price, amount=amount(ln)) for ln in row.lines]
    return NewOrder(row_no=row_no, order_no=order_no(task_id, row_no),
                    customer_id=row.customer_id, customer_name=row.customer_name,
                    address=row.address, area=row.area, status=NEW_ORDER_STATUS,
                    order_time=order_time, receive_time=row.receive_time,
                    time_config_id=time_config["id"],
                    cycle_start=cycle_start(time_config, order_time),
                    total_amount=sum((ln.amount for ln in lines), Decimal(0)),
                    remark=row.remark, lines=lines)


class OrderImportService:
    def __init__(self, db: Database, tasks: TaskService, engine: Engine, *, max_rows: int,
                 part_rows: int):
        self.db = db
        self.tasks = tasks
        self.engine = engine
        self.max_rows = max_rows
        self.part_rows = part_rows

    def submit(self, station_id: str, req: OrderBatchSubmit) -> Created:
        rows = len(req.order_data)
        if rows == 0:
            raise InvalidInput(texts.NEED_ORDERS(), field="order_data")
        if rows > self.max_rows:
            raise TooLarge(texts.TOO_MANY_ORDERS(limit=self.max_rows, count=rows), field="order_data")
        found = self.db.run(
            lambda cur: order_repo.time_config(cur, station_id, req.time_config_id))
        if found is None:
            raise NotFound(texts.CYCLE_NOT_FOUND(time_config_id=req.time_config_id))
        # The rows go to tbl_order_import_part with the task; its input stays small.
        size = self.part_rows
        parts = [(n, start + 1, len(req.order_data[start:start + size]),
                  json.dumps(req.order_data[start:start + size], ensure_ascii=False,
                             separators=(",", ":")))
                 for n, start in enumerate(range(0, rows, size))]
        task_input = {"time_config_id": req.time_config_id, "file_name": req.file_name,
                      "rows": rows, "part_rows": size}
        new = NewTask(station_id=station_id, name=TASK_NAME, type=int(TaskType.IMPORT),
                      input=task_input, user_task_id=req.task_id, repeat=False,
                      business_id=BUSINESS_ID, business_name=BUSINESS_NAME, total_items=rows,
                      callback_url=req.callback_url)
        return self.engine.create_task(
            self.tasks, new, range(1, rows + 1),
            on_created=lambda cur, task_id: order_import_repo.insert_parts(cur, task_id, parts))


@dataclass(frozen=True)
class _Batch:
    """What every row of a chunk shares."""
    station_id: str
    time_config: dict[str, Any] | None
    time_config_id: str
    default_order_time: dt.datetime


class OrderImportProcessor:
    """The engine's BatchProcessor for order_import tasks: items are row numbers."""

    def prepare(self, cur: Any, task: Task, task_input: dict[str, Any],
                items: Sequence[tuple[int, int]]) -> list[WorkItem]:
        tc_id = task_input["time_config_id"]
        shared = _Batch(station_id=task.station_id,
                        time_config=order_repo.time_config(cur, task.station_id, tc_id),
                        time_config_id=tc_id,
                        default_order_time=task.creat_time.replace(tzinfo=dt.timezone.utc)
                        .astimezone(LOCAL_TIME).replace(tzinfo=None, microsecond=0))
        size = task_input["part_rows"]
        row_nos = [row_no for _, row_no in items]
        rows: dict[int, Any] = {}
        for part in order_import_repo.parts_between(cur, task.id, (min(row_nos) - 1) // size,
                                                    (max(row_nos) - 1) // size):
            rows.update(enumerate(json.loads(part["rows_json"]), start=part["first_row"]))
        return [WorkItem(seq=seq, item_id=row_no, payload=(shared, rows[row_no]))
                for seq, row_no in items]

    def process_batch(self, cur: Any, task_id: int, items: Sequence[WorkItem]
                      ) -> list[DetailOutcome]:
        failed: list[DetailOutcome] = []
        good: list[tuple[WorkItem, NewOrder]] = []
        shared: _Batch | None = None
        for item in items:
            shared, raw = item.payload
            if shared.time_config is None:
                failed.append(DetailOutcome(item.seq, item.item_id, Outcome.FAILED, reason=(
                    f"{row_label(item.item_id, raw)}：运营周期 {shared.time_config_id} 已不存在"
                    f"（operation cycle {shared.time_config_id!r} no longer exists）")))
                continue
            try:
                row = OrderRow.model_validate(raw)
            except ValidationError as err:
                failed.append(DetailOutcome(item.seq, item.item_id, Outcome.FAILED,
                                            reason=row_reason(item.item_id, err, raw)))
                continue
            good.append((item, to_new_order(task_id, item.item_id, row, shared.time_config,
                                            shared.default_order_time)))
        ids = order_import_repo.insert_orders(cur, shared.station_id, task_id,
                                              [order for _, order in good], utcnow()) \
            if good else {}
        succeeded = [DetailOutcome(item.seq, item.item_id, Outcome.SUCCEEDED,
                                   target_id=ids[item.item_id]) for item, _ in good]
        return sorted(failed + succeeded, key=lambda o: o.seq)
