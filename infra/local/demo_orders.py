"""Demo orders for `make run`: a few hundred orders over the last four weeks, in the demo
stations' operation cycles, so the order export (sync and async) and the order import can
be tried at once with the printed token and curl lines.

Idempotent: order numbers are `DEMO-<yyyymmdd>-<nn>` (China dates), a day already seeded
is skipped, and the operation cycles are upserted. Running it twice adds nothing; running
it on a later day adds the days since (so the last weeks stay covered). The shape of each
day is a function of its date: every day has 4..16 orders (a one-day export is always
synchronous, at most EXPORT_SYNC_THRESHOLD = 20), four weeks have ~280 (asynchronous).

One transaction per station, which first locks the station's operation cycle rows, so two
seeders at once never seed a day twice. `make seed-orders N=…` stays for bulk bench data.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.adapters.db import Database
from infra.local.seed_orders import (AREAS, CYCLE_STARTS, GIVEN, PRODUCTS, STREETS, SURNAMES,
                                     ensure_time_configs)

DEMO_STATIONS = ("s001", "s002")
DAYS = 28
PREFIX = "DEMO-"
CHINA = dt.timezone(dt.timedelta(hours=8))
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class DemoOrders:
    """What one station holds after seeding (not what this run added)."""
    station_id: str
    time_config_ids: tuple[str, ...]
    first_day: dt.date
    last_day: dt.date
    orders: int                      # demo orders of the station in all
    added: int                       # of them, added by this run
    sync_day: dt.date                # a day with 1..20 orders (a synchronous export)
    sync_day_orders: int


def orders_on(day: dt.date) -> int:
    """How many demo orders a day has: 4..16, a function of the date only."""
    return 4 + (day.toordinal() * 7) % 13


def china_today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def _order_rows(station_id: str, day: dt.date, tc_ids: list[str]) -> list[dict[str, Any]]:
    rows = []
    for n in range(orders_on(day)):
        k = day.toordinal() * 31 + n
        minute = 6 * 60 + (n * 997 + day.day * 53) % (16 * 60)      # 06:00 .. 21:59
        order_time = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute,
                                                                        seconds=k % 60)
        tc = n % len(tc_ids)
        start = dt.timedelta(hours=CYCLE_STARTS[tc].hour, minutes=CYCLE_STARTS[tc].minute)
        cycle_day = (order_time - start).date()
        lines = []
        for ln in range(1 + k % 4):
            name, unit, price = PRODUCTS[(k * 7 + ln * 3) % len(PRODUCTS)]
            qty = Decimal(1 + (k + ln) % 4)
            lines.append((ln + 1, f"SKU-{1 + (k * 7 + ln * 3) % len(PRODUCTS):04d}", name, unit,
                          qty, Decimal(price),
                          (qty * Decimal(price)).quantize(_CENT, rounding=ROUND_HALF_UP)))
        area = AREAS[k % len(AREAS)]
        rows.append({
            "order_no": f"{PREFIX}{day:%Y%m%d}-{n + 1:02d}",
            "customer_id": f"C{k % 5000:05d}",
            "customer_name": SURNAMES[k % len(SURNAMES)] + GIVEN[(k // 7) % len(GIVEN)],
            "address": f"北京市{area}{STREETS[k % len(STREETS)]}{1 + k % 200}号", "area": area,
            "status": 1 + k % 5, "order_time": order_time,
            "receive_time": dt.datetime.combine(day + dt.timedelta(days=1), dt.time(8)),
            "time_config_id": tc_ids[tc],
            "cycle_start": dt.datetime.combine(cycle_day, dt.time()) + start,
            "total_amount": sum((line[-1] for line in lines), Decimal(0)), "lines": lines})
    return rows


def _seed_station(cur: Any, station_id: str, tc_ids: list[str], days: list[dt.date]) -> int:
    # The lock: concurrent seeders of this station queue here.
    cur.execute("SELECT id FROM tbl_time_config WHERE station_id=%s ORDER BY id FOR UPDATE",
                (station_id,))
    cur.execute("SELECT DISTINCT SUBSTRING(order_no, %s, 8) AS day FROM tbl_order"
                " WHERE station_id=%s AND order_no LIKE %s",
                (len(PREFIX) + 1, station_id, PREFIX + "%"))
    have = {r["day"] for r in cur.fetchall()}
    added = 0
    for day in days:
        if f"{day:%Y%m%d}" in have:
            continue
        for order in _order_rows(station_id, day, tc_ids):
            cur.execute(
                "INSERT INTO tbl_order (station_id, order_no, customer_id, customer_name,"
                " address, area, status, order_time, receive_time, time_config_id, cycle_start,"
                " total_amount, remark, create_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s, UTC_TIMESTAMP(3))",
                (station_id, order["order_no"], order["customer_id"], order["customer_name"],
                 order["address"], order["area"], order["status"], order["order_time"],
                 order["receive_time"], order["time_config_id"], order["cycle_start"],
                 order["total_amount"], "演示数据"))
            order_id = cur.lastrowid
            cur.executemany(
                "INSERT INTO tbl_order_line (order_id, station_id, line_no, sku, name, unit,"
                " quantity, unit_price, amount) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(order_id, station_id, *line) for line in order["lines"]])
            added += 1
    return added


def seed_demo_orders(db: Database, stations: tuple[str, ...] = DEMO_STATIONS, *,
                     today: dt.date | None = None, days: int = DAYS) -> dict[str, DemoOrders]:
    """Seed the last `days` China days (today included) for each station; idempotent."""
    today = today or china_today()
    wanted = [today - dt.timedelta(days=d) for d in range(days - 1, -1, -1)]
    out = {}
    for station_id in stations:
        tc_ids = ensure_time_configs(db, station_id)
        added = db.run(lambda cur, s=station_id: _seed_station(cur, s, tc_ids, wanted))

        def counts(cur: Any, s: str = station_id) -> list[dict[str, Any]]:
            cur.execute("SELECT DATE(order_time) AS day, COUNT(*) AS n FROM tbl_order"
                        " WHERE station_id=%s AND order_no LIKE %s GROUP BY DATE(order_time)"
                        " ORDER BY day", (s, PREFIX + "%"))
            return cur.fetchall()
        per_day = db.run(counts)
        # yesterday when it is seeded (a whole day), else the newest day in 1..20
        sync = next((r for r in reversed(per_day)
                     if r["day"] < today and 1 <= r["n"] <= 20), per_day[-1])
        out[station_id] = DemoOrders(
            station_id=station_id, time_config_ids=tuple(tc_ids), first_day=per_day[0]["day"],
            last_day=per_day[-1]["day"], orders=sum(r["n"] for r in per_day), added=added,
            sync_day=sync["day"], sync_day_orders=sync["n"])
    return out
