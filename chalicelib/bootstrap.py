"""The composition root: builds the database, AWS adapters and services from Settings.

Built once per process on first use (a warm Lambda keeps it), never at import time.
Tests call `reset()` after changing the environment.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from chalicelib.adapters.aws import FileStore, WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.adapters.product_center import ProductCenterClient, RateLimiter
from chalicelib.config import Settings, get_runtime_settings, get_settings
from chalicelib.observability import timings
from chalicelib.kinds import KINDS, kind_named
from chalicelib.service.control import TaskControl
from chalicelib.service.dead_letters import DeadLetters
from chalicelib.service.engine import Engine
from chalicelib.service.messages import MessageRouter
from chalicelib.service.operator import Operator
from chalicelib.service.sweeper import Sweeper
from chalicelib.service.tasks import TaskService


@dataclass
class Services:
    settings: Settings
    _kinds: dict[str, Any] = field(default_factory=dict, repr=False)

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url, retry_for_s=self.settings.db_retry_s)

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
            rate_limiter=RateLimiter.for_worker(s.product_center_rate, s.worker_concurrency),
            on_retry=lambda attempt, reason: timings.count("DownstreamRetries"),
            on_latency=lambda seconds: timings.observe("Downstream", seconds))

    @cached_property
    def engine(self) -> Engine:
        processors = {k.name: k.processor(self) for k in KINDS if k.processor is not None}
        return Engine(self.db, self.queue, self.files, self.settings, processors)

    @cached_property
    def control(self) -> TaskControl:
        return TaskControl(self.db, self.engine)

    @cached_property
    def messages(self) -> MessageRouter:
        """Work-queue message kinds and their handlers."""
        router = MessageRouter()
        router.register("chunk", self.engine.handle_message)
        for k in KINDS:
            if k.message_kind is not None:
                router.register(k.message_kind, k.message_handler(self.kind(k.name)))
        return router

    @cached_property
    def sweeper(self) -> Sweeper:
        return Sweeper(self.engine, stale_queued_s=self.settings.sweep_stale_queued_s,
                       dead_letters=self.dead_letters,
                       repairs={k.name: k.repair(self.kind(k.name))
                                for k in KINDS if k.repair is not None})

    @cached_property
    def operator(self) -> Operator:
        return Operator(self.db, self.control, self.dead_letters, self.sweeper)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(WorkQueue(self.settings.dlq_name), self.queue, self.engine)

    def kind(self, name: str) -> Any:
        """The service of the registered task kind `name` (chalicelib/kinds), built once."""
        if name not in self._kinds:
            self._kinds[name] = kind_named(name).service(self)
        return self._kinds[name]


_services: Services | None = None
_lock = threading.Lock()


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            _services = Services(get_runtime_settings())
        return _services


def reset() -> None:
    """Drop the cached settings, services and connections (tests, re-pointed processes)."""
    global _services
    from chalicelib.adapters.aws import reset_clients
    with _lock:
        if _services is not None and "db" in _services.__dict__:
            _services.db.close()
        _services = None
    get_settings.cache_clear()
    get_runtime_settings.cache_clear()
    reset_clients()
