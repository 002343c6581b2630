"""Product-copy tasks: creation (validation + chunk plan) and the per-item work.

A copy task copies products of a source shop into a target shop of the same station by
calling the product center's create-product API once per product. Creation stores the
task, its chunk plan and queues the first window of chunks; the engine does the rest.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from chalicelib import texts
from chalicelib.adapters import catalog_repo
from chalicelib.adapters.db import Database
from chalicelib.domain.chunk import DetailOutcome, Outcome
from chalicelib.adapters.product_center import (DownstreamUnavailable, PermanentItemError,
                                                ProductCenterClient, create_body)
from chalicelib.domain.task import Task, TaskType
from chalicelib.fields import CallbackUrl, Id, Text, exactly_one
from chalicelib.errors import InvalidInput, NotFound, TooLarge
from chalicelib.service.engine import Engine
from chalicelib.service.processors import WorkItem
from chalicelib.service.tasks import Created, NewTask, TaskService

TASK_NAME = "product_copy"
KEY_NAMESPACE = "idempotency_ns"    # task input field: the downstream keys' namespace
BUSINESS_NAME = "商品复制"
BUSINESS_ID = 2001

ShopId = Id


class CopyFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Optional[Text(64)] = None
    name_contains: Optional[Text(64)] = None


class CopyTaskRequest(BaseModel):
    """Body of POST /station/product/copy_task. product_ids' maxItems is the setting
    MAX_COPY_ITEMS (added to the description by api/openapi.py)."""
    model_config = ConfigDict(extra="ignore", json_schema_extra=exactly_one(
        {"product_ids": {"type": "array"}}, {"filter": {"type": "object"}}))
    source_shop_id: ShopId
    target_shop_id: ShopId
    product_ids: Optional[Annotated[list[Id], Field(json_schema_extra={
        "minItems": 1, "uniqueItems": True})]] = None
    filter: Optional[CopyFilter] = None
    user_task_id: Optional[Text(64)] = None
    repeat: StrictBool = False
    callback_url: Optional[CallbackUrl()] = None

    @model_validator(mode="after")
    def _check(self) -> "CopyTaskRequest":
        if (self.product_ids is None) == (self.filter is None):
            raise texts.invalid(texts.EXACTLY_ONE, a="product_ids", b="filter")
        if self.source_shop_id == self.target_shop_id:
            raise texts.invalid(texts.SHOPS_MUST_DIFFER, fields=("target_shop_id",))
        return self


class CopyTaskService:
    def __init__(self, db: Database, tasks: TaskService, engine: Engine, *, max_items: int):
        self.db = db
        self.tasks = tasks
        self.engine = engine
        self.max_items = max_items

    def create(self, station_id: str, req: CopyTaskRequest) -> Created:
        if req.product_ids is not None:
            ids = self._checked_ids(req.product_ids)
        self._check_shops(station_id, req)
        if req.filter is not None:
            ids = self._ids_from_filter(station_id, req)
        task_input = {"source_shop_id": req.source_shop_id, "target_shop_id": req.target_shop_id,
                      "filter": req.filter.model_dump() if req.filter else None,
                      "product_count": len(ids),
                      # the downstream idempotency keys' namespace: never the same for two
                      # tasks, whatever stage, database or restore made them
                      KEY_NAMESPACE: uuid.uuid4().hex}
        new = NewTask(station_id=station_id, name=TASK_NAME, type=int(TaskType.PROCESS),
                      input=task_input, user_task_id=req.user_task_id, repeat=req.repeat,
                      business_id=BUSINESS_ID, business_name=BUSINESS_NAME, total_items=len(ids),
                      callback_url=req.callback_url)
        return self.engine.create_task(self.tasks, new, ids)

    def _checked_ids(self, ids: Sequence[int]) -> list[int]:
        if not ids:
            raise InvalidInput(texts.NEED_PRODUCT_IDS(), field="product_ids")
        if len(ids) > self.max_items:
            raise TooLarge(texts.TOO_MANY_PRODUCTS(limit=self.max_items, count=len(ids)),
                           field="product_ids")
        if len(set(ids)) != len(ids):
            raise InvalidInput(texts.DUPLICATE_IDS(), field="product_ids")
        return list(ids)

    def _check_shops(self, station_id: str, req: CopyTaskRequest) -> None:
        wanted = [req.source_shop_id, req.target_shop_id]
        shops = self.db.run(
            lambda cur: catalog_repo.shops_of_station(cur, station_id, wanted))
        for field, shop_id in (("source_shop_id", req.source_shop_id),
                               ("target_shop_id", req.target_shop_id)):
            if shop_id not in shops:
                raise NotFound(texts.SHOP_NOT_FOUND(field=field, shop_id=shop_id))

    def _ids_from_filter(self, station_id: str, req: CopyTaskRequest) -> list[int]:
        f = req.filter
        ids = self.db.run(lambda cur: catalog_repo.product_ids_matching(
            cur, station_id, req.source_shop_id, category=f.category,
            name_contains=f.name_contains, limit=self.max_items + 1))
        if not ids:
            raise NotFound(texts.FILTER_MATCHES_NOTHING())
        if len(ids) > self.max_items:
            raise TooLarge(texts.FILTER_TOO_BROAD(limit=self.max_items), field="filter")
        return ids


class CopyItem(NamedTuple):
    """One item's request, encoded under the claim (a tuple: 1,000 of them per chunk)."""
    body: bytes         # the create request's body (product_center.create_body)
    key: str            # Idempotency-Key: <task's key namespace>-<detail seq>


@dataclass
class CopyProcessor:
    """The engine's item processor for product_copy tasks."""
    client: ProductCenterClient

    def prepare(self, cur: Any, task: Task, task_input: dict[str, Any],
                items: Sequence[tuple[int, int]]) -> list[WorkItem]:
        products = catalog_repo.products_in_shop(cur, task.station_id,
                                                 task_input["source_shop_id"],
                                                 [item_id for _, item_id in items])
        target = task_input["target_shop_id"]
        # tasks made before keys had a namespace keep their task-id keys (replays stay safe)
        namespace = task_input.get(KEY_NAMESPACE) or str(task.id)
        work = []
        for seq, item_id in items:
            p = products.get(item_id)       # (name, price_cents)
            payload = None if p is None else CopyItem(create_body(target, item_id, *p),
                                                   f"{namespace}-{seq}")
            work.append(WorkItem(seq, item_id, payload))
        return work

    def process(self, task_id: int, item: WorkItem) -> DetailOutcome | None:
        """One create call; None leaves the item pending (downstream unavailable)."""
        if item.payload is None:
            return DetailOutcome(item.seq, item.item_id, Outcome.FAILED,
                                 reason="product not found in the source shop")
        try:
            new_id = self.client.create(*item.payload)
        except PermanentItemError as exc:
            return DetailOutcome(item.seq, item.item_id, Outcome.FAILED, reason=exc.msg)
        except DownstreamUnavailable:
            return None
        return DetailOutcome(item.seq, item.item_id, Outcome.SUCCEEDED, target_id=new_id)
