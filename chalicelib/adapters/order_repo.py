"""SQL for orders, their lines and operation cycles (tbl_order, tbl_order_line,
tbl_time_config). Import (batch submit) and export both read and write through here."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import pymysql
from pymysql.cursors import DictCursor, SSCursor

from chalicelib.adapters.db import connect_kwargs
from chalicelib.adapters.spreadsheet_guard import sql_guard
from chalicelib.errors import DatabaseUnavailable


def time_config(cur: DictCursor, station_id: str, time_config_id: str) -> dict[str, Any] | None:
    """The station's operation cycle configuration, or None (also for another station's)."""
    cur.execute("SELECT id, station_id, name, cycle_start, cycle_hours FROM tbl_time_config"
                " WHERE station_id=%s AND id=%s", (station_id, time_config_id))
    return cur.fetchone()


def time_configs(cur: DictCursor, station_id: str) -> list[dict[str, Any]]:
    """The station's operation cycle configurations, by id."""
    cur.execute("SELECT id, name, CAST(cycle_start AS CHAR) AS cycle_start FROM tbl_time_config"
                " WHERE station_id=%s ORDER BY id", (station_id,))
    return cur.fetchall()


def upsert_time_config(cur: DictCursor, station_id: str, time_config_id: str, name: str,
                       cycle_start: dt.time = dt.time(18, 0), cycle_hours: int = 24) -> None:
    cur.execute("INSERT INTO tbl_time_config (id, station_id, name, cycle_start, cycle_hours)"
                " VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE name=VALUES(name),"
                " cycle_start=VALUES(cycle_start), cycle_hours=VALUES(cycle_hours)",
                (time_config_id, station_id, name, cycle_start, cycle_hours))


# -- export ---------------------------------------------------------------------------------
# Columns an export may select, by name -> SQL expression over tbl_order o / tbl_order_line l.
# Times come as text (the file wants text, and export_query joins every field into one
# string anyway); amounts as their exact DECIMAL text.
EXPORT_FIELDS: dict[str, str] = {
    "order_no": "o.order_no",
    "order_time": "CAST(o.order_time AS CHAR)",
    "order_date": "CAST(DATE(o.order_time) AS CHAR)",
    "receive_time": "CAST(o.receive_time AS CHAR)",
    "cycle_start": "CAST(o.cycle_start AS CHAR)",
    "customer_id": "o.customer_id",
    "customer_name": "o.customer_name",
    "address": "o.address",
    "area": "o.area",
    "status": "o.status",           # replaced by a label CASE when labels are given
    "remark": "o.remark",
    "sku": "l.sku",
    "name": "l.name",
    "unit": "l.unit",
    "quantity": "l.quantity",
    "unit_price": "l.unit_price",
    "amount": "l.amount",
}
NUMERIC_FIELDS = frozenset({"quantity", "unit_price", "amount"})
RANGE_COLUMNS = frozenset({"order_time", "receive_time", "cycle_start"})


@dataclass(frozen=True)
class OrderFilter:
    """Which orders an export covers: one station, [lo, hi) on one time column, filters."""
    station_id: str
    range_column: str                   # order_time | receive_time | cycle_start
    lo: dt.datetime
    hi: dt.datetime                     # exclusive
    time_config_id: str | None = None
    status: int | None = None
    search_text: str | None = None      # order_no or customer_name contains
    search_area: str | None = None      # area equals


def _like_contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: OrderFilter) -> tuple[str, list[Any]]:
    if f.range_column not in RANGE_COLUMNS:
        raise ValueError(f"not a range column: {f.range_column!r}")
    where = ["o.station_id = %s"]
    args: list[Any] = [f.station_id]
    if f.time_config_id is not None:
        where.append("o.time_config_id = %s")
        args.append(f.time_config_id)
    where.append(f"o.{f.range_column} >= %s AND o.{f.range_column} < %s")
    args += [f.lo, f.hi]
    if f.status is not None:
        where.append("o.status = %s")
        args.append(f.status)
    if f.search_area is not None:
        where.append("o.area = %s")
        args.append(f.search_area)
    if f.search_text is not None:
        where.append("(o.order_no LIKE %s OR o.customer_name LIKE %s)")
        args += [_like_contains(f.search_text)] * 2
    return " AND ".join(where), args


def count_orders(cur: DictCursor, f: OrderFilter) -> int:
    where, args = _where(f)
    cur.execute(f"SELECT COUNT(*) AS n FROM tbl_order o WHERE {where}", args)
    return cur.fetchone()["n"]


def count_order_lines(cur: DictCursor, f: OrderFilter) -> int:
    where, args = _where(f)
    cur.execute("SELECT COUNT(*) AS n FROM tbl_order o JOIN tbl_order_line l"
                f" ON l.order_id = o.id WHERE {where}", args)
    return cur.fetchone()["n"]


# Fields the platform formats itself (never user text): no formula guard needed.
_FORMATTED_FIELDS = frozenset({"order_time", "order_date", "receive_time", "cycle_start",
                               "status"})


def _text(name: str, expr: str, style: str) -> str:
    if style == "csv":
        if name not in _FORMATTED_FIELDS:      # CSV injection guard (OWASP): a leading '
            expr = sql_guard(expr)
        return f"CONCAT('\"', REPLACE({expr}, '\"', '\"\"'), '\"')"   # RFC 4180 quoting
    return f"REPLACE({expr}, CHAR(31 USING utf8mb4), ' ')"  # it separates the fields


def export_query(f: OrderFilter, fields: Sequence[str], *, style: str,
                 status_labels: dict[int, str] | None = None) -> tuple[str, list[Any]]:
    """One row per order line, in order of the range column and order, as ONE text column.

    style "csv": the line of a CSV file (text quoted, numbers bare, user text that would
    start a formula prefixed with an apostrophe); style "fields": the
    fields joined by CHAR(31) (text fields never contain it). Building the line in the
    server keeps the client's per-row cost to one field, which is what makes a million
    rows a few seconds in pure-Python pymysql. Amounts are exact DECIMAL text.
    Lines of an order come in line order: the join reads them through uq_order_line
    (order_id, line_no), and the ORDER BY, on the first table's index only, needs no sort.
    """
    if style not in ("csv", "fields"):
        raise ValueError(f"unknown style {style!r}")
    select, args = [], []
    for name in fields:
        expr = EXPORT_FIELDS[name]
        if name == "status" and status_labels:
            expr = ("CASE o.status " + " ".join(["WHEN %s THEN %s"] * len(status_labels))
                    + " ELSE CAST(o.status AS CHAR) END")
            for code, label in status_labels.items():
                args += [code, label]
        select.append(expr if name in NUMERIC_FIELDS else _text(name, expr, style))
    sep = "','" if style == "csv" else "CHAR(31 USING utf8mb4)"
    where, where_args = _where(f)
    sql = (f"SELECT CONCAT_WS({sep}, {', '.join(select)}) FROM tbl_order o"
           f" JOIN tbl_order_line l ON l.order_id = o.id WHERE {where}"
           f" ORDER BY o.{f.range_column}, o.id")
    return sql, args + where_args


def streaming_connection(url: str) -> pymysql.connections.Connection:
    """A connection of its own for one unbuffered (server-side cursor) read.

    Rows arrive as the client reads them, so the server must tolerate a slow reader (the
    file writer and S3 uploads sit between two reads): net_write_timeout is raised.
    """
    try:
        return pymysql.connect(**connect_kwargs(url), charset="utf8mb4", autocommit=True,
                               connect_timeout=5, read_timeout=600, write_timeout=60,
                               cursorclass=SSCursor, init_command=(
                                   "SET SESSION time_zone='+00:00', net_write_timeout=600"))
    except pymysql.err.OperationalError as exc:
        raise DatabaseUnavailable("the database is unavailable, try again") from exc


def stream_batches(conn: pymysql.connections.Connection, sql: str, args: Sequence[Any],
                   size: int = 2000) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of an unbuffered (server-side cursor) SELECT, `size` tuples at a time.

    The caller owns `conn` and closes it when done or on error. The cursor is deliberately
    not closed here: closing an unbuffered cursor reads every remaining row first, whereas
    closing the connection mid-stream just drops them. A connection lost mid-stream (the
    server restarted) raises DatabaseUnavailable: the caller may run the whole read again.
    """
    try:
        cur = conn.cursor(SSCursor)
        cur.execute(sql, args)
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield rows
    except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
        raise DatabaseUnavailable("the database went away during the export") from exc
