"""SQL for shops and products (the catalog a copy task reads)."""
from __future__ import annotations

from typing import Any, Sequence

import pymysql.cursors
from pymysql.cursors import DictCursor


def shops_of_station(cur: DictCursor, station_id: str, shop_ids: Sequence[int]
                     ) -> dict[int, dict[str, Any]]:
    marks = ", ".join(["%s"] * len(shop_ids))
    cur.execute(f"SELECT id, station_id, name FROM tbl_shop WHERE station_id=%s"
                f" AND id IN ({marks})", (station_id, *shop_ids))
    return {row["id"]: row for row in cur.fetchall()}


def product_ids_matching(cur: DictCursor, station_id: str, shop_id: int, *,
                         category: str | None, name_contains: str | None,
                         limit: int) -> list[int]:
    where, args = ["station_id=%s", "shop_id=%s"], [station_id, shop_id]
    if category:
        where.append("category=%s")
        args.append(category)
    if name_contains:
        where.append("name LIKE %s")
        args.append("%" + name_contains.replace("\\", "\\\\").replace("%", "\\%")
                    .replace("_", "\\_") + "%")
    cur.execute(f"SELECT id FROM tbl_product WHERE {' AND '.join(where)} ORDER BY id"
                f" LIMIT %s", (*args, limit))
    return [row["id"] for row in cur.fetchall()]


def products_in_shop(cur: DictCursor, station_id: str, shop_id: int,
                     product_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """{id: (name, price_cents)} of the shop's products among `product_ids`."""
    if not product_ids:
        return {}
    # The ids go in as digits (int() of each), not as 1,000 %s parameters to escape one by
    # one; only the columns a copy sends are read, as tuples (a plain cursor on the same
    # connection and transaction: a chunk's 1,000 rows skip the DictCursor's dict per row).
    ids = ",".join([str(int(i)) for i in product_ids])
    with cur.connection.cursor(pymysql.cursors.Cursor) as rows:
        rows.execute(f"SELECT id, name, price_cents FROM tbl_product WHERE station_id=%s"
                     f" AND shop_id=%s AND id IN ({ids})", (station_id, shop_id))
        return {row[0]: (row[1], row[2]) for row in rows.fetchall()}
