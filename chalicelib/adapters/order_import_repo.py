"""SQL of the order batch import: orders and their lines written by an import task.

The idempotency key is the import-row key of tbl_order, UNIQUE (station_id,
import_task_id, import_row_no): a row of a batch can become at most one order, however
often its chunk is delivered or re-run. Lines are written only for orders this call
actually inserted, in the caller's transaction.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from pymysql.cursors import DictCursor


@dataclass(frozen=True)
class NewOrderLine:
    sku: str
    name: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class NewOrder:
    row_no: int
    order_no: str
    customer_id: str
    customer_name: str
    address: str
    area: str
    status: int
    order_time: dt.datetime
    receive_time: dt.datetime
    time_config_id: str
    cycle_start: dt.datetime
    total_amount: Decimal
    remark: str
    lines: Sequence[NewOrderLine]


def _orders_of_rows(cur: DictCursor, station_id: str, task_id: int,
                    row_nos: Sequence[int], *, lock: bool) -> dict[int, int]:
    """row_no -> order id of the given import rows that have an order.

    `lock` reads the latest committed rows and locks them; the unlocked read takes no gap
    locks, which would make workers inserting neighbouring rows of one task deadlock."""
    marks = ", ".join(["%s"] * len(row_nos))
    cur.execute("SELECT import_row_no, id FROM tbl_order WHERE station_id=%s AND import_task_id=%s"
                f" AND import_row_no IN ({marks})" + (" FOR UPDATE" if lock else ""),
                (station_id, task_id, *row_nos))
    return {r["import_row_no"]: r["id"] for r in cur.fetchall()}


def insert_orders(cur: DictCursor, station_id: str, task_id: int, orders: Sequence[NewOrder],
                  now: dt.datetime) -> dict[int, int]:
    """Insert the orders whose import row has none yet, and their lines.

    Returns row_no -> order id for every given order (already present or new).
    Every value is a %s parameter, so pymysql sends one multi-row INSERT per table.
    """
    if not orders:
        return {}
    row_nos = [o.row_no for o in orders]
    before = _orders_of_rows(cur, station_id, task_id, row_nos, lock=False)
    new = [o for o in orders if o.row_no not in before]
    if not new:
        return before
    cur.executemany(
        "INSERT IGNORE INTO tbl_order (station_id, order_no, customer_id, customer_name, address,"
        " area, status, order_time, receive_time, time_config_id, cycle_start, total_amount,"
        " remark, import_task_id, import_row_no, create_time)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(station_id, o.order_no, o.customer_id, o.customer_name, o.address, o.area, o.status,
          o.order_time, o.receive_time, o.time_config_id, o.cycle_start, o.total_amount,
          o.remark, task_id, o.row_no, now) for o in new])
    # A row another transaction inserted meanwhile (only a worker whose lease was taken
    # over races like that) makes the line INSERT below fail on uq_order_line: this
    # transaction rolls back, and the outcome the other worker recorded stands.
    ids = _orders_of_rows(cur, station_id, task_id, row_nos, lock=True)
    cur.executemany(
        "INSERT INTO tbl_order_line (order_id, station_id, line_no, sku, name, unit, quantity,"
        " unit_price, amount) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(ids[o.row_no], station_id, n, line.sku, line.name, line.unit, line.quantity,
          line.unit_price, line.amount)
         for o in new for n, line in enumerate(o.lines, start=1)])
    return ids


def insert_parts(cur: DictCursor, task_id: int,
                 parts: Sequence[tuple[int, int, int, str]]) -> None:
    """The batch's rows: (part, first_row, row_count, rows_json) per part."""
    cur.executemany("INSERT INTO tbl_order_import_part (task_id, part, first_row, row_count,"
                    " rows_json) VALUES (%s, %s, %s, %s, %s)",
                    [(task_id, *part) for part in parts])


def parts_between(cur: DictCursor, task_id: int, first: int, last: int
                  ) -> list[dict[str, Any]]:
    """Parts first..last of a batch: first_row and rows_json, in order."""
    cur.execute("SELECT first_row, rows_json FROM tbl_order_import_part WHERE task_id=%s"
                " AND part BETWEEN %s AND %s ORDER BY part", (task_id, first, last))
    return list(cur.fetchall())
