"""Order detail export: GET /station/sales_analysis/orderdetail and its work.

The request counts the matching orders. At most EXPORT_SYNC_THRESHOLD (20) → the file is
written to S3 in the request and the answer is `{async: 0, link}`; more → a task of type
1 (export) whose plan is one item, the file, answered with `{async: 1, task_url}`. The
engine runs that item like any other chunk (claim, lease from the database's clock,
duplicate deliveries skipped, the sweeper's repairs, cancel, retry) through
ExportProcessor, a StreamProcessor: it streams the rows from MySQL through a server-side
cursor into the file writer and up to S3 by multipart upload (memory flat whatever the row
count), while the engine's LeaseKeeper renews the lease and writes progress every
EXPORT_HEARTBEAT_S. The task ends 3 with `result.file_key` (shown by /task/get as an
expiring `link`), `rows` and `format`, or 5 with the reason. docs/exports.md has the details.

The query model and filter are export_query.py, the formats export_formats.py, the file
writers export_writer.py; this module is the request and the processor.
"""
from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from chalicelib import texts
from chalicelib.adapters import order_repo
from chalicelib.adapters.aws import FileStore
from chalicelib.adapters.db import Database
from chalicelib.adapters.order_repo import OrderFilter
from chalicelib.config import Settings
from chalicelib.domain.chunk import DetailOutcome, Outcome
from chalicelib.domain.task import Task, TaskType
from chalicelib.errors import InvalidInput, NotFound, Unavailable
from chalicelib.observability import logger
from chalicelib.service.engine import Engine
from chalicelib.service.export_formats import FORMATS, XLSX_TMP_BYTES_PER_ROW, ExportFormat
from chalicelib.service.export_query import OrderDetailQuery, build_filter
from chalicelib.service.export_writer import write_export
from chalicelib.service.lease import DeadlineReached, LeaseKeeper, LeaseLost, TaskCancelled
from chalicelib.service.processors import StreamDone, WorkItem
from chalicelib.service.tasks import NewTask, TaskService

TASK_NAME = "order_detail_export"
BUSINESS_NAME = "订单明细导出"
BUSINESS_ID = 3001
FILE_ITEM = 0           # the item id of the plan's one item (the file)


# -- the request ----------------------------------------------------------------------------
class OrderExportService:
    def __init__(self, db: Database, tasks: TaskService, engine: Engine, files: FileStore,
                 settings: Settings):
        self.db, self.tasks, self.engine, self.files, self.settings = (
            db, tasks, engine, files, settings)

    def request(self, station_id: str, q: OrderDetailQuery) -> dict[str, Any]:
        flt = build_filter(station_id, q, self.settings.export_max_range_days)

        def count(cur: Any) -> int:
            if q.query_type == 2 and order_repo.time_config(cur, station_id,
                                                            q.time_config_id) is None:
                raise NotFound(texts.CYCLE_NOT_FOUND(time_config_id=q.time_config_id))
            return order_repo.count_orders(cur, flt)
        orders = self.db.run(count)
        fmt = FORMATS[q.format]
        if orders <= self.settings.export_sync_threshold:
            key = f"exports/{station_id}/sync/{uuid.uuid4().hex}/{fmt.file_name}"
            write_export(self.settings.database_url, self.files, key, flt, fmt,
                         part_size=part_size(self.settings), tmpdir=self.settings.export_tmpdir)
            return {"async": 0, "link": self.files.link(key)}
        # One item, the file: the engine's claim, lease, retries and repairs run it.
        new = NewTask(station_id=station_id, name=TASK_NAME, type=int(TaskType.EXPORT),
                      input=q.model_dump(mode="json", exclude_none=True, exclude={"callback_url"}),
                      repeat=True, business_id=BUSINESS_ID, business_name=BUSINESS_NAME,
                      total_items=1, callback_url=q.callback_url)
        task = self.engine.create_task(self.tasks, new, [FILE_ITEM]).task
        return {"async": 1, "task_id": task.id}


def part_size(settings: Settings) -> int:
    return settings.export_part_mb * 1024 * 1024


# -- the work, on the engine ------------------------------------------------------------------
@dataclass(frozen=True)
class ExportJob:
    key: str                    # exports/<station>/<task>/<file name>
    flt: OrderFilter
    fmt: ExportFormat


class ExportProcessor:
    """The export's StreamProcessor: the rows stream from MySQL through a server-side cursor
    into the file writer and up to S3 by multipart upload, ticking the engine's lease keeper
    with each batch (progress, cancel, takeover, deadline)."""

    def __init__(self, db: Database, files: FileStore, settings: Settings):
        self.db, self.files, self.settings = db, files, settings

    def prepare(self, cur: Any, task: Task, task_input: dict[str, Any],
                items: Sequence[tuple[int, int]]) -> list[WorkItem]:
        try:
            q = OrderDetailQuery.model_validate(task_input)
            fmt = FORMATS[q.format]
            job: ExportJob | str = ExportJob(
                f"exports/{task.station_id}/{task.id}/{fmt.file_name}",
                build_filter(task.station_id, q, self.settings.export_max_range_days), fmt)
        except (ValueError, InvalidInput) as exc:
            job = f"导出条件已失效，请重新导出 (the stored query is no longer valid: {exc})"
        return [WorkItem(seq, item_id, job) for seq, item_id in items]

    def stream(self, task_id: int, item: WorkItem, lease: LeaseKeeper) -> StreamDone:
        job = item.payload
        if isinstance(job, str):
            return _failed(item, job)
        s = self.settings
        lease.total = total = self._count(job.flt)
        short = None if job.fmt.is_csv else self._tmp_shortfall(total)
        if short:
            return _failed(item, short)
        started = time.monotonic()
        try:
            rows = write_export(s.database_url, self.files, job.key, job.flt, job.fmt,
                                part_size=part_size(s), tmpdir=s.export_tmpdir, tick=lease.tick,
                                confirm=lease.confirm)
        except DeadlineReached:
            # A file cannot be resumed: run again, it would stop at the same row.
            return _failed(item, f"导出超过执行时限：已写 {lease.done}/{total} 行；"
                                 "请缩短日期范围后重试 (worker time limit)")
        except (LeaseLost, TaskCancelled, Unavailable):
            raise               # the engine's to handle (the upload is aborted)
        except Exception as exc:
            logger.exception("export failed", extra={"task_id": task_id})
            return _failed(item, f"导出失败 ({type(exc).__name__})，请重试")
        logger.info("export done", extra={"task_id": task_id, "rows": rows,
                                          "seconds": round(time.monotonic() - started, 2)})
        return StreamDone(DetailOutcome(item.seq, item.item_id, Outcome.SUCCEEDED),
                          result={"file_key": job.key, "rows": rows, "format": job.fmt.name})

    def _count(self, flt: OrderFilter) -> int:
        # its own transaction, under the kept lease: a count over a long range takes a while
        return self.db.run(lambda cur: order_repo.count_order_lines(cur, flt))

    def _tmp_shortfall(self, rows: int) -> str | None:
        """A reason when an XLSX of `rows` rows would not fit the worker's temp space."""
        need = rows * XLSX_TMP_BYTES_PER_ROW
        have = self.settings.export_tmp_mb * 1024 * 1024 or shutil.disk_usage(
            self.settings.export_tmpdir or tempfile.gettempdir()).free
        if need <= have:
            return None
        return (f"{rows} 行的 XLSX 约需 {need // 2 ** 20} MB 临时空间，执行环境只有"
                f" {have // 2 ** 20} MB；请改用 CSV 格式或缩短日期范围 (temporary space)")


def _failed(item: WorkItem, reason: str) -> StreamDone:
    return StreamDone(DetailOutcome(item.seq, item.item_id, Outcome.FAILED, reason=reason))
