"""Demo data: stations, shops and products, so a copy task can be started at once.

Idempotent: shops are created once by name; products are topped up to the wanted count.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.db import Database

CATEGORIES = ("蔬菜", "水果", "肉禽", "水产", "粮油")


@dataclass(frozen=True)
class DemoShop:
    station_id: str
    name: str


DEMO_SHOPS = (DemoShop("s001", "旗舰店 A"), DemoShop("s001", "分店 B"),
              DemoShop("s002", "其他站点的店铺"))


def ensure_shop(db: Database, station_id: str, name: str) -> int:
    def tx(cur) -> int:
        cur.execute("SELECT id FROM tbl_shop WHERE station_id=%s AND name=%s", (station_id, name))
        row = cur.fetchone()
        if row:
            return row["id"]
        cur.execute("INSERT INTO tbl_shop (station_id, name) VALUES (%s, %s)", (station_id, name))
        return cur.lastrowid
    return db.run(tx)


def ensure_products(db: Database, station_id: str, shop_id: int, count: int,
                    batch: int = 5000) -> list[int]:
    """Top the shop up to `count` products; returns the ids of its first `count` products."""
    def existing(cur) -> int:
        cur.execute("SELECT COUNT(*) AS n FROM tbl_product WHERE shop_id=%s", (shop_id,))
        return cur.fetchone()["n"]
    have = db.run(existing)
    for start in range(have, count, batch):
        rows = [(station_id, shop_id, f"商品 {n:06d}", f"SKU-{shop_id}-{n:06d}",
                 CATEGORIES[n % len(CATEGORIES)], 100 + n % 9900)
                for n in range(start, min(count, start + batch))]
        db.run(lambda cur, rows=rows: cur.executemany(
            "INSERT INTO tbl_product (station_id, shop_id, name, sku, category, price_cents)"
            " VALUES (%s, %s, %s, %s, %s, %s)", rows))

    def ids(cur) -> list[int]:
        cur.execute("SELECT id FROM tbl_product WHERE shop_id=%s ORDER BY id LIMIT %s",
                    (shop_id, count))
        return [r["id"] for r in cur.fetchall()]
    return db.run(ids)


def seed_demo(db: Database, products_per_shop: int = 2000) -> dict[str, int]:
    """Create the demo shops; fill the first shop of each station with products."""
    shops = {}
    for shop in DEMO_SHOPS:
        shops[shop.name] = ensure_shop(db, shop.station_id, shop.name)
    ensure_products(db, "s001", shops["旗舰店 A"], products_per_shop)
    ensure_products(db, "s002", shops["其他站点的店铺"], min(products_per_shop, 100))
    return shops
