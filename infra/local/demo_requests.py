"""The requests `make run` prints as curl lines: one per business endpoint, built from the
demo data actually in the database (infra/local/demo.py, demo_orders.py), so each works as
printed. tests/integration/test_demo_data.py runs every printed line with curl.
"""
from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlencode

from infra.local.demo_orders import DemoOrders

AUTH = '-H "Authorization: Bearer $TOKEN"'
IMPORT_TASK_ID = "demo-import"


@dataclass(frozen=True)
class DemoRequest:
    title: str
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    body: Optional[dict[str, Any]] = None

    def url(self, base: str) -> str:
        return f"{base}{self.path}" + (f"?{urlencode(self.query)}" if self.query else "")

    def curl(self, base: str) -> str:
        """One shell line; $TOKEN is the demo token the stack prints."""
        parts = ["curl -s", AUTH]
        if self.body is not None:
            body = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))
            parts += ["-H 'Content-Type: application/json'", "-d", shlex.quote(body)]
        parts.append(shlex.quote(self.url(base)))
        return " ".join(parts)


def demo_import_body(time_config_id: str, today: dt.date) -> dict[str, Any]:
    """Two orders: the first imports, the second fails with its reasons (quantity 0, no
    receive_time), so the task ends 4 (部分成功) with an error report."""
    day = f"{today:%Y-%m-%d}"
    return {"task_id": IMPORT_TASK_ID, "time_config_id": time_config_id,
            "file_name": "演示订单.xlsx", "order_data": [
                {"customer_name": "张三", "customer_id": "C0001", "area": "海淀区",
                 "address": "北京市海淀区中关村大街1号", "order_time": f"{day} 09:30:00",
                 "receive_time": f"{day} 18:00:00",
                 "lines": [{"sku": "SKU-0006", "name": "红富士苹果", "unit": "斤",
                            "quantity": "2.5", "unit_price": "7.90"}]},
                {"customer_name": "李四", "order_time": f"{day} 10:00:00",
                 "lines": [{"sku": "SKU-0009", "name": "鸡蛋", "unit": "盒",
                            "quantity": 0, "unit_price": "15.80"}]}]}


def demo_requests(station: DemoOrders, source_shop_id: int, target_shop_id: int,
                  today: dt.date) -> list[DemoRequest]:
    tc = station.time_config_ids[0]
    return [
        DemoRequest("商品复制 (product copy: the 水果 products of shop A into shop B)", "POST",
                    "/station/product/copy_task",
                    body={"source_shop_id": source_shop_id, "target_shop_id": target_shop_id,
                          "filter": {"category": "水果"}}),
        DemoRequest(f"订单导出，同步 (sync export: {station.sync_day_orders} orders of"
                    f" {station.sync_day}, answers a link)", "GET",
                    "/station/sales_analysis/orderdetail",
                    query={"query_type": 1, "start_date": f"{station.sync_day}",
                           "end_date": f"{station.sync_day}", "format": "xlsx"}),
        DemoRequest(f"订单导出，异步 (async export: operation cycle {tc} over"
                    f" {station.first_day}..{station.last_day}, answers a task_url)", "GET",
                    "/station/sales_analysis/orderdetail",
                    query={"query_type": 2, "time_config_id": tc,
                           "cycle_start_time": f"{station.first_day - dt.timedelta(days=1)}"
                                               " 00:00:00",
                           "cycle_end_time": f"{station.last_day} 23:59:59", "format": "csv"}),
        DemoRequest("订单导入 (import 2 orders, one bad: the task ends 4 with its reason)",
                    "POST", "/station/order/batch/submit", body=demo_import_body(tc, today)),
        DemoRequest("任务列表 (the station's tasks)", "GET", "/task/list"),
    ]
