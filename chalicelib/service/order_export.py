"""Order detail export: GET /station/sales_analysis/orderdetail and its worker.

The request counts the matching orders. At most EXPORT_SYNC_THRESHOLD (20) → the file is
written to S3 in the request and the answer is `{async: 0, link}`; more → a task of type
1 (export) and one work-queue message `{"kind": "export", "task_id": …}`, answered with
`{async: 1, task_url}`. The worker claims the task with a conditional status move 1 → 2,
streams the rows from MySQL through a server-side cursor into the file writer and up to
S3 by multipart upload (memory flat whatever the row count), refreshes progress and its
claim every EXPORT_HEARTBEAT_S, and finishes the task 3 with `result.file_key` (shown by
/task/get as an expiring `link`) or 5 with a reason. docs/exports.md has the details.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Iterator, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.adapters import order_repo, task_repo
from chalicelib.adapters.aws import FileStore, WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.adapters.order_repo import OrderFilter
from chalicelib.adapters.s3_multipart import MultipartWriter
from chalicelib.config import Settings
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import TaskStatus, TaskType
from chalicelib.errors import Conflict, InvalidInput, NotFound, PlatformError, Unavailable
from chalicelib.fields import Choice, LocalDate, LocalDateTime, Text
from chalicelib.observability import logger
from chalicelib.service import lifecycle
from chalicelib.service.messages import MalformedMessage
from chalicelib.service.tasks import NewTask, TaskService

TASK_NAME = "order_detail_export"
BUSINESS_NAME = "订单明细导出"
BUSINESS_ID = 3001
MESSAGE_KIND = "export"
XLSX_MAX_ROWS = 1_048_576           # per worksheet, header included
# XlsxWriter's constant_memory mode keeps the sheet's XML (~800 bytes a row of demo data) in
# a temp file, and copies it once more while packaging: an XLSX export needs about this
# much temp space per row (1M rows: ~1.8 GB; Lambda's default /tmp is 512 MB).
XLSX_TMP_BYTES_PER_ROW = 1800

# tbl_order.status as the users read it.
ORDER_STATUS_LABELS = {1: "待确认", 2: "已确认", 3: "配送中", 4: "已签收", 5: "已取消"}

QUERY_TYPE_FIELDS = {1: ("start_date", "end_date"),
                     2: ("time_config_id", "cycle_start_time", "cycle_end_time"),
                     3: ("start_date", "end_date")}
MIN_YEAR, MAX_YEAR = 1000, 9998       # MySQL DATETIME's range, with room for the range end
QUERY_TYPE_NAMES = {1: "order date", 2: "operation cycle", 3: "receive date"}


_Date = LocalDate(MIN_YEAR, MAX_YEAR)
_CycleTime = LocalDateTime(MIN_YEAR, MAX_YEAR, " T")


class OrderDetailQuery(BaseModel):
    """Query string of GET /station/sales_analysis/orderdetail (seed parameters). The
    conditional parameters are a oneOf on query_type (QUERY_TYPE_FIELDS)."""
    model_config = ConfigDict(extra="ignore", json_schema_extra={"oneOf": [
        {"properties": {"query_type": {"enum": sorted(t for t in QUERY_TYPE_FIELDS
                                                      if QUERY_TYPE_FIELDS[t] == fields)}},
         "required": list(fields)}
        for fields in dict.fromkeys(QUERY_TYPE_FIELDS.values())]})
    query_type: Choice(QUERY_TYPE_NAMES, query=True,
                       description="1 order date, 2 operation cycle, 3 receive date")
    start_date: Optional[_Date] = Field(None, description="query_type 1 and 3")
    end_date: Optional[_Date] = Field(None, description="query_type 1 and 3 (inclusive)")
    time_config_id: Optional[Text(32, strict=False)] = Field(None, description="query_type 2")
    cycle_start_time: Optional[_CycleTime] = Field(None, description="query_type 2")
    cycle_end_time: Optional[_CycleTime] = Field(None, description="query_type 2 (inclusive)")
    status: Optional[Choice(ORDER_STATUS_LABELS, query=True, description=", ".join(
        f"{k} {v}" for k, v in ORDER_STATUS_LABELS.items()))] = None
    search_text: Optional[Text(64, strict=False)] = Field(
        None, description="order number or customer name contains")
    search_area: Optional[Text(64, strict=False)] = Field(
        None, description="area (地理标签) equals")
    format: Literal["xlsx", "csv", "yongyou"] = "xlsx"

    @model_validator(mode="after")
    def _conditional(self) -> "OrderDetailQuery":
        missing = [name for name in QUERY_TYPE_FIELDS[self.query_type]
                   if getattr(self, name) is None]
        if missing:
            raise ValueError(f"query_type {self.query_type} ({QUERY_TYPE_NAMES[self.query_type]})"
                             f" needs {', '.join(missing)}")
        return self


# -- formats ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportFormat:
    name: str
    file_name: str
    download_name: str                          # what the user's browser saves it as
    content_type: str
    sheet: str                                  # worksheet name (xlsx formats)
    columns: tuple[tuple[str, str], ...]        # (header, order_repo.EXPORT_FIELDS name)

    @property
    def is_csv(self) -> bool:
        return self.file_name.endswith(".csv")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DETAIL_COLUMNS = (
    ("订单号", "order_no"), ("下单时间", "order_time"), ("收货时间", "receive_time"),
    ("运营周期", "cycle_start"), ("客户", "customer_name"), ("地址", "address"),
    ("地理标签", "area"), ("订单状态", "status"), ("商品编码", "sku"), ("商品名称", "name"),
    ("单位", "unit"), ("数量", "quantity"), ("单价", "unit_price"), ("金额", "amount"))
# Yonyou (用友 U8/T+) sales order import: header fields repeated on every body line.
YONGYOU_COLUMNS = (
    ("单据编号", "order_no"), ("单据日期", "order_date"), ("客户编码", "customer_id"),
    ("客户名称", "customer_name"), ("收货地址", "address"), ("地区", "area"),
    ("存货编码", "sku"), ("存货名称", "name"), ("主计量单位", "unit"), ("数量", "quantity"),
    ("含税单价", "unit_price"), ("价税合计", "amount"), ("备注", "remark"))
FORMATS = {
    "xlsx": ExportFormat("xlsx", "orderdetail.xlsx", "订单明细.xlsx", XLSX_TYPE, "订单明细",
                         DETAIL_COLUMNS),
    "csv": ExportFormat("csv", "orderdetail.csv", "订单明细.csv", "text/csv; charset=utf-8", "",
                        DETAIL_COLUMNS),
    "yongyou": ExportFormat("yongyou", "orderdetail-yongyou.xlsx", "用友销售订单.xlsx", XLSX_TYPE,
                            "销售订单", YONGYOU_COLUMNS),
}


def build_filter(station_id: str, q: OrderDetailQuery, max_range_days: int) -> OrderFilter:
    """The query as an order filter; refuses reversed and too long ranges (InvalidInput)."""
    if q.query_type == 2:
        lo, hi = q.cycle_start_time, q.cycle_end_time
        names = "cycle_end_time is before cycle_start_time"
        too_long = hi - lo > dt.timedelta(days=max_range_days)
        column, hi_excl = "cycle_start", hi + dt.timedelta(seconds=1)
    else:
        lo_d, hi_d = q.start_date, q.end_date
        names = "end_date is before start_date"
        lo, hi = dt.datetime.combine(lo_d, dt.time()), dt.datetime.combine(hi_d, dt.time())
        too_long = (hi_d - lo_d).days + 1 > max_range_days
        column = "order_time" if q.query_type == 1 else "receive_time"
        hi_excl = hi + dt.timedelta(days=1)
    if hi < lo:
        raise InvalidInput(names)
    if too_long:
        raise InvalidInput(f"the range is longer than {max_range_days} days")
    return OrderFilter(station_id=station_id, range_column=column, lo=lo, hi=hi_excl,
                       time_config_id=q.time_config_id if q.query_type == 2 else None,
                       status=q.status, search_text=q.search_text, search_area=q.search_area)


# -- writing one file ------------------------------------------------------------------------
Tick = Callable[[int], None]
Batches = Iterator[list[tuple[str]]]


def _write_csv(sink: MultipartWriter, fmt: ExportFormat, batches: Batches, tick: Tick) -> int:
    head = io.StringIO()
    csv.writer(head, lineterminator="\r\n").writerow([h for h, _ in fmt.columns])
    # BOM: spreadsheet programs then read the Chinese text as UTF-8.
    sink.write(("\ufeff" + head.getvalue()).encode("utf-8"))
    rows = 0
    for batch in batches:
        sink.write(("\r\n".join([r[0] for r in batch]) + "\r\n").encode("utf-8"))
        rows += len(batch)
        tick(len(batch))
    return rows


def _write_xlsx(sink: MultipartWriter, fmt: ExportFormat, batches: Batches, tick: Tick,
                tmpdir: str | None) -> int:
    # constant_memory: one row in memory, rows go to a temp file in tmpdir; close() zips
    # that file into `sink` (compressed as it goes), so the upload streams too.
    import xlsxwriter   # imported by the export that writes XLSX, not by every cold start
    from chalicelib.adapters.xlsx_rows import RowStreamWorksheet
    with tempfile.TemporaryDirectory(dir=tmpdir or None, prefix="export-") as scratch:
        book = xlsxwriter.Workbook(sink, {
            "constant_memory": True, "tmpdir": scratch, "strings_to_numbers": False,
            "strings_to_formulas": False, "strings_to_urls": False})
        bold = book.add_format({"bold": True})
        numeric = [field in order_repo.NUMERIC_FIELDS for _, field in fmt.columns]

        def new_sheet(n: int) -> Any:
            sheet = book.add_worksheet(fmt.sheet if n == 1 else f"{fmt.sheet}{n}",
                                       worksheet_class=RowStreamWorksheet)
            sheet.set_row_layout(numeric)
            sheet.write_row(0, 0, [h for h, _ in fmt.columns], bold)
            sheet.set_column(0, len(numeric) - 1, 14)
            sheet.freeze_panes(1, 0)
            return sheet
        sheets = 1
        sheet, row, rows = new_sheet(sheets), 1, 0
        for batch in batches:
            for (line,) in batch:
                if row == XLSX_MAX_ROWS:
                    sheets += 1
                    sheet, row = new_sheet(sheets), 1
                sheet.write_text_row(row, line)
                row += 1
            rows += len(batch)
            tick(len(batch))
        book.close()
    return rows


def write_export(database_url: str, files: FileStore, key: str, flt: OrderFilter,
                 fmt: ExportFormat, *, part_size: int, tmpdir: str | None = None,
                 tick: Tick = lambda n: None) -> int:
    """Stream the filter's order lines into `key` on S3; returns the row count.

    Any error (or an exception raised by `tick`) aborts the multipart upload: no object
    appears and no parts are left stored.
    """
    fields = [field for _, field in fmt.columns]
    sql, args = order_repo.export_query(flt, fields, style="csv" if fmt.is_csv else "fields",
                                        status_labels=ORDER_STATUS_LABELS)
    conn = order_repo.streaming_connection(database_url)
    try:
        with MultipartWriter(files.s3, files.bucket, key, content_type=fmt.content_type,
                             download_name=fmt.download_name, part_size=part_size) as sink:
            batches = order_repo.stream_batches(conn, sql, args)
            if fmt.is_csv:
                return _write_csv(sink, fmt, batches, tick)
            return _write_xlsx(sink, fmt, batches, tick, tmpdir)
    finally:
        conn.close()


# -- the service -----------------------------------------------------------------------------
class LostClaim(Conflict):
    """Another run of the same export took the task over (this one's lease had expired)."""


class DeadlineReached(PlatformError):
    """The worker nears its Lambda deadline."""


def export_message(task_id: int) -> dict[str, Any]:
    return {"kind": MESSAGE_KIND, "task_id": task_id}


@dataclass(frozen=True)
class Claim:
    task: dict[str, Any]
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
                raise NotFound(f"time_config_id: operation cycle {q.time_config_id!r} not found")
            return order_repo.count_orders(cur, flt)
        orders = self.db.run(count)
        fmt = FORMATS[q.format]
        if orders <= self.settings.export_sync_threshold:
            key = f"exports/{station_id}/sync/{uuid.uuid4().hex}/{fmt.file_name}"
            write_export(self.settings.database_url, self.files, key, flt, fmt,
                         part_size=self.part_size, tmpdir=self.settings.export_tmpdir)
            return {"async": 0, "link": self.files.link(key)}
        new = NewTask(station_id=station_id, name=TASK_NAME, type=int(TaskType.EXPORT),
                      input=q.model_dump(mode="json", exclude_none=True), repeat=True,
                      business_id=BUSINESS_ID, business_name=BUSINESS_NAME, total_items=orders)
        task = self.tasks.create(new).task
        try:
            self.queue.send([export_message(task["id"])], group_id=station_id)
        except Exception:
            logger.exception("could not enqueue an export", extra={"task_id": task["id"]})
            self._fail(task["id"], task["run_count"], "the export could not be queued")
            raise Unavailable("the export could not be queued, try again") from None
        return {"async": 1, "task_id": task["id"]}

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
            flt = build_filter(task["station_id"], q, self.settings.export_max_range_days)
        except (ValueError, InvalidInput) as exc:
            self._fail(task_id, run, f"the stored query is no longer valid: {exc}")
            return RunResult.FAILED
        fmt = FORMATS[q.format]
        key = f"exports/{task['station_id']}/{task_id}/{fmt.file_name}"
        total = self.db.run(lambda cur: order_repo.count_order_lines(cur, flt))
        short = None if fmt.is_csv else self._tmp_shortfall(total)
        if short:
            self._fail(task_id, run, short)
            return RunResult.FAILED
        beat = Heartbeat(self, task_id, run, total, remaining_ms)
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
        if task is None or task["name"] != TASK_NAME:
            return None
        if task["status"] == TaskStatus.SUBMITTED:
            lifecycle.start(cur, task)
        elif task["status"] == TaskStatus.RUNNING and self._stale(task):
            # the run holding it stopped refreshing (killed, timed out): take it over
            task_repo.update_fields(cur, task_id, {"run_count": task["run_count"] + 1})
        else:
            return None
        return Claim(task, task["run_count"] + 1)

    def _stale(self, task: dict[str, Any]) -> bool:
        age = dt.datetime.utcnow() - task["modify_time"]
        return age.total_seconds() > self.settings.lease_seconds

    def _owned(self, cur: Any, task_id: int, run: int) -> dict[str, Any] | None:
        task = task_repo.get_any_station(cur, task_id, for_update=True)
        if task is None or task["status"] != TaskStatus.RUNNING or task["run_count"] != run:
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
            if task is None or task["run_count"] != run or TaskStatus(task["status"]).is_final:
                return
            lifecycle.finish(cur, task, TaskStatus.FAILED, reason=reason)
        self.db.run(tx)


class Heartbeat:
    """Counts rows; every EXPORT_HEARTBEAT_S refreshes progress and the claim, and stops the
    export (by raising) when the claim was taken over or the Lambda deadline is near."""

    def __init__(self, svc: OrderExportService, task_id: int, run: int, total: int,
                 remaining_ms: Callable[[], int]):
        self.svc, self.task_id, self.run, self.total = svc, task_id, run, total
        self.remaining_ms = remaining_ms
        self.rows = 0
        self._next = time.monotonic() + svc.settings.export_heartbeat_s

    def tick(self, n: int) -> None:
        self.rows += n
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.svc.settings.export_heartbeat_s
        if self.remaining_ms() < self.svc.settings.deadline_margin_ms:
            raise DeadlineReached("near the worker's deadline")
        progress = min(99, self.rows * 100 // self.total) if self.total else 0
        if not self.svc.heartbeat(self.task_id, self.run, progress):
            raise LostClaim("another run took the export over")
