"""The composition root: builds the database, AWS adapters and services from Settings.

Built once per process on first use (a warm Lambda keeps it), never at import time.
Tests call `reset()` after changing the environment.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from chalicelib.adapters.aws import FileStore, WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.adapters.product_center import ProductCenterClient
from chalicelib.config import (STARTUP_ERRORS, Settings, database_url_refresher,
                               get_runtime_settings, get_settings)
from chalicelib.errors import Unavailable
from chalicelib.service.deadline import deadline_margin_ms
from chalicelib.observability import logger, timings
from chalicelib.domain.aimd import AimdConfig
from chalicelib.kinds import KINDS, kind_named
from chalicelib.service.budget import SharedBudget
from chalicelib.service.control import TaskControl
from chalicelib.service.dead_letters import DeadLetters
from chalicelib.service.engine import Engine
from chalicelib.service import lifecycle
from chalicelib.service.callback_check import CallbackCheck
from chalicelib.service.messages import MessageRouter
from chalicelib.service.notifications import MESSAGE_KIND as NOTIFY_KIND
from chalicelib.service.notifications import FinishNotices, Notifier
from chalicelib.service.operator import Operator
from chalicelib.service.sweeper import Sweeper
from chalicelib.service.tasks import TaskService


@dataclass
class Services:
    settings: Settings
    _kinds: dict[str, Any] = field(default_factory=dict, repr=False)

    @cached_property
    def db(self) -> Database:
        s = self.settings
        return Database(s.database_url, retry_for_s=s.db_retry_s,
                        connect_timeout=s.db_connect_timeout_s, read_timeout=s.db_read_timeout_s,
                        refresh_url=database_url_refresher())

    @cached_property
    def queue(self) -> WorkQueue:
        return WorkQueue(self.settings.work_queue_name)

    @cached_property
    def files(self) -> FileStore:
        return FileStore(self.settings.export_bucket, self.settings.link_ttl_seconds)

    @cached_property
    def tasks(self) -> TaskService:
        return TaskService(self.db)

    @cached_property
    def product_center(self) -> ProductCenterClient:
        s = self.settings
        return ProductCenterClient(
            s.product_center_url, timeout_s=s.product_center_timeout_s,
            max_attempts=s.product_center_max_attempts, pool_size=s.chunk_threads,
            rate_limiter=self.budget,
            on_retry=lambda attempt, reason: timings.count("DownstreamRetries"),
            on_latency=lambda seconds: timings.observe("Downstream", seconds))

    @cached_property
    def budget(self) -> SharedBudget | None:
        """The product center budget all workers share; None when unlimited (rate 0)."""
        s = self.settings
        if s.product_center_rate <= 0:
            return None
        cfg = AimdConfig(ceiling=s.product_center_rate, floor=s.budget_floor,
                         decrease=s.budget_decrease, increase_per_s=s.budget_increase_per_s,
                         latency_ratio=s.budget_latency_ratio)
        return SharedBudget(self.db, cfg, block_s=s.budget_block_s, threads=s.chunk_threads,
                            worker_share=s.product_center_rate / s.worker_concurrency,
                            on_rate=lambda rate: timings.gauge("ProductCenterBudget", rate))

    @cached_property
    def engine(self) -> Engine:
        processors = {k.name: k.processor(self) for k in KINDS if k.processor is not None}
        # the margin covers the worst single downstream call (chalicelib/service/deadline.py)
        margin = deadline_margin_ms(self.settings,
                                    self.product_center.worst_call_s(self.settings.chunk_threads))
        return Engine(self.db, self.queue, self.files,
                      replace(self.settings, deadline_margin_ms=margin), processors)

    @cached_property
    def control(self) -> TaskControl:
        return TaskControl(self.db, self.engine)

    @cached_property
    def messages(self) -> MessageRouter:
        """Work-queue message kinds and their handlers."""
        router = MessageRouter()
        router.register("chunk", self.engine.handle_message)
        router.register(NOTIFY_KIND, self.notifier.handle_message)
        # {"kind": "export", "task_id"} was sent before exports ran on the engine (migration
        # 0013 gave those tasks their one-item plan): it names the plan's chunk 0.
        router.register("export", lambda msg, remaining_ms: self.engine.handle_message(
            {**msg, "chunk": 0}, remaining_ms))
        return router

    @cached_property
    def sweeper(self) -> Sweeper:
        return Sweeper(self.db, self.files, self.engine,
                       max_chunk_attempts=self.settings.max_chunk_attempts,
                       stale_queued_s=self.settings.sweep_stale_queued_s,
                       dead_letters=self.dead_letters,
                       repairs={"notifications": self.notifier.sweep})

    @cached_property
    def operator(self) -> Operator:
        return Operator(self.db, self.control, self.dead_letters, self.sweeper,
                        budget_ceiling=self.settings.product_center_rate)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.db, WorkQueue(self.settings.dlq_name), self.queue, self.engine)

    @cached_property
    def callbacks(self) -> CallbackCheck:
        """A callback_url checked at creation (every kind's route, the internal add)."""
        return CallbackCheck(self.settings)

    @cached_property
    def notifier(self) -> Notifier:
        """Completion notifications: the "notify" messages and their sweeper repair."""
        from chalicelib.adapters.events import EventBus
        from chalicelib.api.present import task_item
        s = self.settings
        return Notifier(self.db, self.queue, s, item=lambda task: task_item(task, self.files),
                        events=EventBus(s.event_bus_name) if s.event_bus_name else None)

    def finish_notices(self) -> FinishNotices:
        """lifecycle.finish's listener: opens a finished task's notification job."""
        return FinishNotices(self.settings, lambda: self.queue)

    def kind(self, name: str) -> Any:
        """The service of the registered task kind `name` (chalicelib/kinds), built once."""
        if name not in self._kinds:
            self._kinds[name] = kind_named(name).service(self)
        return self._kinds[name]


_services: Services | None = None
_lock = threading.Lock()


class NotConfigured(Unavailable):
    """The stage's settings or secrets cannot start the platform: the request answers
    50300; the reason is logged once per attempt as one line (never to the client)."""
    logged = True

    def __init__(self) -> None:
        super().__init__("the service is not configured; retry later")


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            try:
                settings = get_runtime_settings()
            except STARTUP_ERRORS as err:
                logger.error(f"cold start stopped: {err}")
                raise NotConfigured() from None
            _services = Services(settings)
            lifecycle.set_finish_listener(_services.finish_notices())
        return _services


def reset() -> None:
    """Drop the cached settings, services and connections (tests, re-pointed processes)."""
    global _services
    from chalicelib.adapters.aws import reset_clients
    with _lock:
        if _services is not None and "db" in _services.__dict__:
            _services.db.close()
        _services = None
        lifecycle.set_finish_listener(None)
    get_settings.cache_clear()
    get_runtime_settings.cache_clear()
    reset_clients()
