"""The composition root: builds the database, AWS adapters and services from Settings.

Built once per process on first use (a warm Lambda keeps it), never at import time.
Tests call `reset()` after changing the environment.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from chalicelib.adapters.aws import FileStore, WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.adapters.product_center import ProductCenterClient
from chalicelib.config import Settings, get_runtime_settings, get_settings
from chalicelib.domain.aimd import AimdConfig
from chalicelib.observability import timings
from chalicelib.service import copy_tasks, order_import
from chalicelib.service.budget import SharedBudget
from chalicelib.service.control import TaskControl
from chalicelib.service.dead_letters import DeadLetters
from chalicelib.service.engine import Engine
from chalicelib.service.messages import MessageRouter
from chalicelib.service.order_export import OrderExportService
from chalicelib.service.operator import Operator
from chalicelib.service.sweeper import Sweeper
from chalicelib.service.tasks import TaskService


@dataclass
class Services:
    settings: Settings

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
        return SharedBudget(self.db, cfg, block_s=s.budget_block_s,
                            worker_share=s.product_center_rate / s.worker_concurrency,
                            on_rate=lambda rate: timings.gauge("ProductCenterBudget", rate))

    @cached_property
    def engine(self) -> Engine:
        processors = {copy_tasks.TASK_NAME: copy_tasks.CopyProcessor(self.product_center),
                      order_import.TASK_NAME: order_import.OrderImportProcessor()}
        return Engine(self.db, self.queue, self.files, self.settings, processors)

    @cached_property
    def control(self) -> TaskControl:
        return TaskControl(self.db, self.engine)

    @cached_property
    def messages(self) -> MessageRouter:
        """Work-queue message kinds and their handlers."""
        router = MessageRouter()
        router.register("chunk", self.engine.handle_message)
        router.register("export", self.order_export.handle_message)
        return router

    @cached_property
    def sweeper(self) -> Sweeper:
        return Sweeper(self.engine, stale_queued_s=self.settings.sweep_stale_queued_s,
                       dead_letters=self.dead_letters,
                       repairs={"exports": self.order_export.sweep})

    @cached_property
    def operator(self) -> Operator:
        return Operator(self.db, self.control, self.dead_letters, self.sweeper,
                        budget_ceiling=self.settings.product_center_rate)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(WorkQueue(self.settings.dlq_name), self.queue, self.engine)

    @cached_property
    def copy_tasks(self) -> copy_tasks.CopyTaskService:
        return copy_tasks.CopyTaskService(self.tasks, self.engine,
                                          max_items=self.settings.max_copy_items)

    @cached_property
    def order_import(self) -> order_import.OrderImportService:
        return order_import.OrderImportService(self.tasks, self.engine,
                                               max_rows=self.settings.order_import_max_rows,
                                               part_rows=self.settings.chunk_size)

    @cached_property
    def order_export(self) -> OrderExportService:
        return OrderExportService(self.db, self.tasks, self.queue, self.files, self.settings)


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
