"""Order import helpers shared by the import tests: rows and batch bodies."""
from __future__ import annotations

from typing import Any

SUBMIT = "/station/order/batch/submit"
TC = "s001-tc-import"


def order_row(n: int, **change: Any) -> dict[str, Any]:
    row = {"customer_name": f"客户{n}", "customer_id": f"C{n:04d}",
           "address": f"北京市海淀区中关村大街{n}号", "area": "海淀",
           "order_time": "2026-11-27 19:30:00", "receive_time": "2026-11-28 08:00:00",
           "remark": "", "lines": [
               {"sku": "SKU-APPLE", "name": "苹果", "unit": "斤", "quantity": "2.5",
                "unit_price": "6.80"},
               {"sku": "SKU-EGG", "name": "鸡蛋", "unit": "盒", "quantity": 1,
                "unit_price": 12}]}
    row.update(change)
    return row


def batch(rows: list[Any], **change: Any) -> dict[str, Any]:
    body = {"task_id": "ui-import-1", "time_config_id": TC, "order_data": rows,
            "file_name": "订单导入.xlsx"}
    body.update(change)
    return {k: v for k, v in body.items() if v is not None}
