"""SQL of tbl_rate_budget: the shared product center budget row (migration 0010).

The caller owns the transaction: `lock` reads the row FOR UPDATE (creating it when it is
missing), the caller computes the new values (chalicelib/domain/aimd.py) and `save`
writes them, so one reservation is one locked read and one UPDATE.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pymysql.cursors import DictCursor

# A row whose times lie further ahead than this is corrupt (no grant is ever that long).
MAX_AHEAD_S = 60.0


@dataclass(frozen=True)
class BudgetRow:
    rate: float
    tat_s: float
    updated_s: float
    decreased_s: float
    repaired: bool = False          # the row was missing or corrupt and is being rewritten


def _sane(row: dict[str, Any], now_s: float) -> bool:
    values = (row["rate"], row["tat_s"], row["updated_s"], row["decreased_s"])
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return False
    # A rate above the ceiling is not corrupt (the ceiling was lowered): AIMD clamps it.
    return (row["rate"] > 0
            and max(row["tat_s"], row["updated_s"], row["decreased_s"]) <= now_s + MAX_AHEAD_S)


def lock(cur: DictCursor, name: str, now_s: float, ceiling: float) -> BudgetRow:
    """The budget row, locked until the transaction ends; a fresh one (at the ceiling)
    when it is missing or corrupt."""
    for _ in range(2):
        cur.execute("SELECT rate, tat_s, updated_s, decreased_s FROM tbl_rate_budget"
                    " WHERE name=%s FOR UPDATE", (name,))
        row = cur.fetchone()
        if row is not None:
            if _sane(row, now_s):
                return BudgetRow(float(row["rate"]), float(row["tat_s"]),
                                 float(row["updated_s"]), float(row["decreased_s"]))
            return BudgetRow(ceiling, now_s, now_s, 0.0, repaired=True)
        # INSERT IGNORE: of two workers creating it at once, one inserts, both then lock it.
        cur.execute("INSERT IGNORE INTO tbl_rate_budget (name, rate, tat_s, updated_s,"
                    " decreased_s, modify_time) VALUES (%s, %s, %s, %s, 0, UTC_TIMESTAMP(3))",
                    (name, ceiling, now_s, now_s))
    raise RuntimeError(f"budget row {name!r} could not be created")


def save(cur: DictCursor, name: str, row: BudgetRow) -> None:
    cur.execute("UPDATE tbl_rate_budget SET rate=%s, tat_s=%s, updated_s=%s, decreased_s=%s,"
                " reservations=reservations+1, modify_time=UTC_TIMESTAMP(3) WHERE name=%s",
                (row.rate, row.tat_s, row.updated_s, row.decreased_s, name))


def read(cur: DictCursor, name: str) -> dict[str, Any] | None:
    """The row as it is (for operators and metrics)."""
    cur.execute("SELECT name, rate, tat_s, updated_s, decreased_s, reservations, modify_time"
                " FROM tbl_rate_budget WHERE name=%s", (name,))
    return cur.fetchone()
