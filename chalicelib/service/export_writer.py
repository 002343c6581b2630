"""Writing one export file: order lines streamed from a server-side cursor into CSV or
XLSX and up to S3 by multipart upload, memory flat whatever the row count."""
from __future__ import annotations

import csv
import io
import tempfile
from typing import Any, Callable, Iterator

from chalicelib.adapters import order_repo
from chalicelib.adapters.aws import FileStore
from chalicelib.adapters.order_repo import OrderFilter
from chalicelib.adapters.s3_multipart import MultipartWriter
from chalicelib.service.export_formats import ORDER_STATUS_LABELS, XLSX_MAX_ROWS, ExportFormat

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
    import xlsxwriter   # imported by an export that writes XLSX, not by every cold start
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
                 tick: Tick = lambda n: None, confirm: Callable[[], None] = lambda: None
                 ) -> int:
    """Stream the filter's order lines into `key` on S3; returns the row count.

    `tick(n)` is called after each batch of n rows, `confirm()` once all are written and
    before the upload is completed (the caller's last chance to refuse: a lost lease). Any
    error, or an exception raised by either, aborts the multipart upload: no object appears
    and no parts are left stored.
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
                rows = _write_csv(sink, fmt, batches, tick)
            else:
                rows = _write_xlsx(sink, fmt, batches, tick, tmpdir)
            confirm()
            return rows
    finally:
        conn.close()
