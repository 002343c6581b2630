"""SQL for orders, their lines and operation cycles (tbl_order, tbl_order_line,
tbl_time_config). Import (batch submit) and export both read and write through here."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pymysql.cursors import DictCursor


def time_config(cur: DictCursor, station_id: str, time_config_id: str) -> dict[str, Any] | None:
    """The station's operation cycle configuration, or None (also for another station's)."""
    cur.execute("SELECT id, station_id, name, cycle_start, cycle_hours FROM tbl_time_config"
                " WHERE station_id=%s AND id=%s", (station_id, time_config_id))
    return cur.fetchone()


def upsert_time_config(cur: DictCursor, station_id: str, time_config_id: str, name: str,
                       cycle_start: dt.time = dt.time(18, 0), cycle_hours: int = 24) -> None:
    cur.execute("INSERT INTO tbl_time_config (id, station_id, name, cycle_start, cycle_hours)"
                " VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE name=VALUES(name),"
                " cycle_start=VALUES(cycle_start), cycle_hours=VALUES(cycle_hours)",
                (time_config_id, station_id, name, cycle_start, cycle_hours))
