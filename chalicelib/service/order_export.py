"""Order detail export: GET /station/sales_analysis/orderdetail and its worker.

The request counts the matching orders. At most EXPORT_SYNC_THRESHOLD (20) → the file is
written to S3 in the request and the answer is `{async: 0, link}`; more → a task of type
1 (export) and one work-queue message `{"kind": "export", "task_id": …}`, answered with
`{async: 1, task_url}`. The worker claims the task with a conditional status move 1 → 2,
streams the rows from MySQL through a server-side cursor into the file writer and up to
S3 by multipart upload (memory flat whatever the row count), refreshes progress and its
claim every EXPORT_HEARTBEAT_S, and finishes the task 3 with `result.file_key` (shown by
/task/get as an expiring `link`) or 5 with a reason. docs/exports.md has the details.

The query model and filter are export_query.py, the formats export_formats.py, the file
writers export_writer.py; this module is the service (request, worker, repairs).
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.adapters import order_repo, task_repo
from chalicelib.adapters.aws import FileStore, WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.config import Settings
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import Task, TaskStatus, TaskType
from chalicelib import texts
from chalicelib.errors import Conflict, InvalidInput, NotFound, PlatformError, Unavailable
from chalicelib.observability import logger
from chalicelib.service import lifecycle
from chalicelib.service.export_formats import FORMATS, XLSX_TMP_BYTES_PER_ROW
from chalicelib.service.export_query import OrderDetailQuery, build_filter
from chalicelib.service.export_writer import write_export
from chalicelib.service.messages import MalformedMessage
from chalicelib.service.tasks import NewTask, TaskService

TASK_NAME = "order_detail_export"
BUSINESS_NAME = "订单明细导出"
BUSINESS_ID = 3001
MESSAGE_KIND = "export"


# -- the service -----------------------------------------------------------------------------
class LostClaim(Conflict):
    """Another run of the same export took the task over (this one's lease had expired)."""


class DeadlineReached(PlatformError):
    """The worker nears its Lambda deadline."""


def export_message(task_id: int) -> dict[str, Any]:
    return {"kind": MESSAGE_KIND, "task_id": task_id}


@dataclass(frozen=True)
class Claim:
    task: Task
    run: int            # run_count of this run: every later write is conditional on it


class OrderExportService:
    def __init__(self, db: Database, tasks: TaskService, queue: WorkQueue, files: FileStore,
                 settings: Settings):
        self.db, self.tasks, self.queue, self.files, self.settings = (
            db, tasks, queue, files, settings)

    @property
    def part_size(self) -> int:
        return self.settings.export_part_mb * 1024 * 1024

    # -- the request ---------------------------------------------------------------------
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
                         part_size=self.part_size, tmpdir=self.settings.export_tmpdir)
            return {"async": 0, "link": self.files.link(key)}
        new = NewTask(station_id=station_id, name=TASK_NAME, type=int(TaskType.EXPORT),
                      input=q.model_dump(mode="json", exclude_none=True, exclude={"callback_url"}),
                      repeat=True,
                      business_id=BUSINESS_ID, business_name=BUSINESS_NAME, total_items=orders,
                      callback_url=q.callback_url)
        task = self.tasks.create(new).task
        try:
            self.queue.send([export_message(task.id)], group_id=station_id)
        except Exception:
            logger.exception("could not enqueue an export", extra={"task_id": task.id})
            self._fail(task.id, task.run_count, "the export could not be queued")
            raise Unavailable(texts.QUEUE_FAILED()) from None
        return {"async": 1, "task_id": task.id}

    # -- the worker ----------------------------------------------------------------------
    def handle_message(self, msg: dict[str, Any], remaining_ms: Callable[[], int]) -> RunResult:
        """The "export" message handler; returns what happened (logs, tests)."""
        try:
            task_id = int(msg["task_id"])
        except (KeyError, TypeError, ValueError):
            raise MalformedMessage(f"export message without task_id: {msg!r}") from None
        claim = self.db.run(lambda cur: self._claim(cur, task_id))
        if claim is None:
            return RunResult.SKIPPED        # a duplicate delivery: running elsewhere, or finished
        task, run = claim.task, claim.run
        try:
            stored = self.db.run(lambda cur: task_repo.get_input(cur, task_id))
            q = OrderDetailQuery.model_validate(json.loads(stored))
            flt = build_filter(task.station_id, q, self.settings.export_max_range_days)
        except (ValueError, InvalidInput) as exc:
            self._fail(task_id, run, f"the stored query is no longer valid: {exc}")
            return RunResult.FAILED
        # The claim is refreshed on the heartbeat's own thread, rows or not: a selective
        # filter over a long range can scan for minutes without sending one.
        with Heartbeat(self, task_id, run, 0, remaining_ms) as beat:
            return self._write(task_id, run, task, q, flt, beat)

    def _write(self, task_id: int, run: int, task: Task, q: OrderDetailQuery,
               flt: Any, beat: "Heartbeat") -> RunResult:
        fmt = FORMATS[q.format]
        key = f"exports/{task.station_id}/{task_id}/{fmt.file_name}"
        total = beat.total = self.db.run(lambda cur: order_repo.count_order_lines(cur, flt))
        short = None if fmt.is_csv else self._tmp_shortfall(total)
        if short:
            self._fail(task_id, run, short)
            return RunResult.FAILED
        started = time.monotonic()
        try:
            rows = write_export(self.settings.database_url, self.files, key, flt, fmt,
                                part_size=self.part_size, tmpdir=self.settings.export_tmpdir,
                                tick=beat.tick)
        except LostClaim:
            return RunResult.LOST
        except DeadlineReached:
            self._fail(task_id, run, f"导出超过执行时限：已写 {beat.rows}/{total} 行；"
                                     "请缩短日期范围后重试 (worker time limit)")
            return RunResult.DEADLINE
        except Exception as exc:
            logger.exception("export failed", extra={"task_id": task_id})
            self._fail(task_id, run, f"导出失败 ({type(exc).__name__})，请重试")
            return RunResult.FAILED
        result = {"file_key": key, "rows": rows, "format": fmt.name}
        if not self.db.run(lambda cur: self._finish(cur, task_id, run, result)):
            return RunResult.LOST
        logger.info("export done", extra={"task_id": task_id, "rows": rows,
                                          "seconds": round(time.monotonic() - started, 2)})
        return RunResult.DONE

    # -- repairs (every minute, from the sweeper's schedule) ------------------------------
    def sweep(self, limit: int = 200) -> dict[str, int]:
        """Re-send the message of exports whose message was lost (submitted, untouched for
        SWEEP_STALE_QUEUED_S) or whose worker died (running, no heartbeat for LEASE_SECONDS);
        fail those that have already run MAX_CHUNK_ATTEMPTS times. The claim absorbs any
        duplicate message this causes."""
        s = self.settings

        def tx(cur: Any) -> tuple[list[int], int]:
            stale = order_repo.stale_export_tasks(cur, TASK_NAME, queued_s=s.sweep_stale_queued_s,
                                                  lease_s=s.lease_seconds, limit=limit)
            resend, submitted, failed = [], [], 0
            for row in stale:
                if row["run_count"] >= s.max_chunk_attempts:
                    task = task_repo.get_any_station(cur, row["id"], for_update=True)
                    lifecycle.finish(cur, task, TaskStatus.FAILED, reason=(
                        f"导出中断 {row['run_count']} 次仍未完成"))
                    failed += 1
                else:
                    resend.append(row["id"])
                    if row["status"] == TaskStatus.SUBMITTED:
                        submitted.append(row["id"])
            # a re-sent submitted task waits SWEEP_STALE_QUEUED_S again; a running one stays
            # stale (the claim's takeover test) until its new message is handled
            order_repo.touch_tasks(cur, submitted)
            return resend, failed
        resend, failed = self.db.run(tx)
        if resend:
            self.queue.send([export_message(task_id) for task_id in resend])
        if resend or failed:
            logger.info("exports repaired", extra={"resent": resend, "failed": failed})
        return {"resent": len(resend), "failed": failed}

    def _tmp_shortfall(self, rows: int) -> str | None:
        """A reason when an XLSX of `rows` rows would not fit the worker's temp space."""
        need = rows * XLSX_TMP_BYTES_PER_ROW
        have = self.settings.export_tmp_mb * 1024 * 1024 or shutil.disk_usage(
            self.settings.export_tmpdir or tempfile.gettempdir()).free
        if need <= have:
            return None
        return (f"{rows} 行的 XLSX 约需 {need // 2 ** 20} MB 临时空间，执行环境只有"
                f" {have // 2 ** 20} MB；请改用 CSV 格式或缩短日期范围 (temporary space)")

    def _claim(self, cur: Any, task_id: int) -> Claim | None:
        """1 → 2 (or take over a running export whose claim went stale), conditionally."""
        task = task_repo.get_any_station(cur, task_id, for_update=True)
        if task is None or task.name != TASK_NAME:
            return None
        if task.status == TaskStatus.SUBMITTED:
            lifecycle.start(cur, task)
        elif task.status == TaskStatus.RUNNING and self._stale(task):
            # the run holding it stopped refreshing (killed, timed out): take it over
            task_repo.update_fields(cur, task_id, {"run_count": task.run_count + 1})
        else:
            return None
        return Claim(task, task.run_count + 1)

    def _stale(self, task: Task) -> bool:
        age = dt.datetime.utcnow() - task.modify_time
        return age.total_seconds() > self.settings.lease_seconds

    def _owned(self, cur: Any, task_id: int, run: int) -> Task | None:
        task = task_repo.get_any_station(cur, task_id, for_update=True)
        if task is None or task.status != TaskStatus.RUNNING or task.run_count != run:
            return None
        return task

    def heartbeat(self, task_id: int, run: int, progress: int) -> bool:
        def tx(cur: Any) -> bool:
            if self._owned(cur, task_id, run) is None:
                return False
            task_repo.update_fields(cur, task_id, {"progress": progress})
            return True
        return self.db.run(tx)

    def _finish(self, cur: Any, task_id: int, run: int, result: dict[str, Any]) -> bool:
        task = self._owned(cur, task_id, run)
        if task is None:
            return False
        lifecycle.finish(cur, task, TaskStatus.FINISHED, result=result)
        return True

    def _fail(self, task_id: int, run: int, reason: str) -> None:
        def tx(cur: Any) -> None:
            task = task_repo.get_any_station(cur, task_id, for_update=True)
            if task is None or task.run_count != run or task.is_final:
                return
            lifecycle.finish(cur, task, TaskStatus.FAILED, reason=reason)
        self.db.run(tx)


class Heartbeat:
    """Refreshes progress and the claim every EXPORT_HEARTBEAT_S, and stops the export
    (tick() raises) when the claim was taken over or the Lambda deadline is near. Rows
    drive it (tick); while none arrive (a selective filter scanning a long range) its own
    thread keeps the claim alive. Use as a context manager around the export."""

    def __init__(self, svc: OrderExportService, task_id: int, run: int, total: int,
                 remaining_ms: Callable[[], int]):
        self.svc, self.task_id, self.run, self.total = svc, task_id, run, total
        self.remaining_ms = remaining_ms
        self.rows = 0
        self.lost = False
        self._interval = svc.settings.export_heartbeat_s
        self._next = time.monotonic() + self._interval
        self._last_beat = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._idle_beats, daemon=True,
                                        name=f"export-heartbeat-{task_id}")

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        with self._lock:
            self._last_beat = time.monotonic()
            progress = min(99, self.rows * 100 // self.total) if self.total else 0
            if not self.lost and not self.svc.heartbeat(self.task_id, self.run, progress):
                self.lost = True

    def _idle_beats(self) -> None:
        wait = max(self._interval, 0.05)
        while not self._stop.wait(wait):
            if time.monotonic() - self._last_beat < wait:
                continue        # rows are flowing: tick() beats
            try:
                self._beat()
            except Exception:   # the DB is away: the next beat tries again
                logger.exception("export heartbeat failed", extra={"task_id": self.task_id})
            if self.lost:
                return

    def tick(self, n: int) -> None:
        self.rows += n
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            if self.remaining_ms() < self.svc.settings.deadline_margin_ms:
                raise DeadlineReached("near the worker's deadline")
            self._beat()
        if self.lost:
            raise LostClaim("another run took the export over")
