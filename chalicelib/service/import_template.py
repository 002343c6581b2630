"""The import template (GET /station/order/batch/template): an .xlsx or .csv whose header
is exactly the batch submit's order row and line fields (service/import_file.py COLUMNS),
with example orders that import as they are and, in the .xlsx, a sheet explaining each
column. Made in memory (a few KB) with XlsxWriter, which the Lambda package has.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

from chalicelib.service.import_file import COLUMNS, ORDER_COLUMNS

# column -> (中文名, 必填, 说明)
HELP: dict[str, tuple[str, str, str]] = {
    "customer_name": ("客户名称", "必填", "1–128 个字符"),
    "customer_id": ("客户编号", "选填", "最多 32 个字符"),
    "address": ("收货地址", "选填", "最多 255 个字符"),
    "area": ("地理标签", "选填", "最多 64 个字符；导出的 search_area 按它筛选"),
    "order_time": ("下单时间", "选填", "YYYY-MM-DD HH:MM:SS；不填为提交时间（北京时间）"),
    "receive_time": ("收货时间", "必填", "YYYY-MM-DD HH:MM:SS；不早于下单时间"),
    "remark": ("备注", "选填", "最多 255 个字符"),
    "sku": ("商品编码", "必填", "1–64 个字符"),
    "name": ("商品名称", "必填", "1–255 个字符"),
    "unit": ("单位", "选填", "最多 16 个字符"),
    "quantity": ("数量", "必填", "大于 0，最多 2 位小数"),
    "unit_price": ("单价（元）", "必填", "不小于 0，最多 2 位小数"),
}
assert tuple(HELP) == COLUMNS
RULE = ("每行是一个商品（订单行）。订单列（customer_name … remark）全部留空的行，属于上面一行的订单；"
        "填写了任一订单列的行开始一个新订单。表头必须保留（列名即提交接口的字段名）。")


def example_rows(today: dt.date) -> list[list[str]]:
    day, next_day = f"{today}", f"{today + dt.timedelta(days=1)}"
    blank = [""] * len(ORDER_COLUMNS)
    return [
        ["张三", "C0001", "北京市海淀区中关村大街1号", "海淀区", f"{day} 09:30:00",
         f"{next_day} 08:00:00", "放门口", "SKU-0006", "红富士苹果", "斤", "2.5", "7.90"],
        [*blank, "SKU-0009", "鸡蛋", "盒", "1", "15.80"],
        ["李四", "", "北京市朝阳区建国路88号", "朝阳区", f"{day} 10:15:00",
         f"{next_day} 08:00:00", "", "SKU-0014", "东北大米 5kg", "袋", "1", "39.90"],
    ]


def template_csv(today: dt.date) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(example_rows(today))
    return "\ufeff".encode() + out.getvalue().encode()   # the BOM: Excel reads it as UTF-8


def template_xlsx(today: dt.date) -> bytes:
    import xlsxwriter
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    head = wb.add_format({"bold": True, "bg_color": "#E1EAFF", "border": 1})
    text = wb.add_format({"num_format": "@"})
    ws = wb.add_worksheet("订单")
    for col, name in enumerate(COLUMNS):
        ws.write_string(0, col, name, head)
        ws.set_column(col, col, 22 if name.endswith("_time") or name == "address" else 12,
                      None if name in ("quantity", "unit_price") else text)
    for r, row in enumerate(example_rows(today), start=1):
        for col, (name, value) in enumerate(zip(COLUMNS, row)):
            if value and name in ("quantity", "unit_price"):
                ws.write_number(r, col, float(value))
            elif value:
                ws.write_string(r, col, value)
    ws.freeze_panes(1, 0)
    info = wb.add_worksheet("说明")
    info.write_string(0, 0, RULE)
    for col, title in enumerate(("字段（列名）", "中文名", "必填", "说明")):
        info.write_string(2, col, title, head)
    for r, name in enumerate(COLUMNS, start=3):
        for col, value in enumerate((name, *HELP[name])):
            info.write_string(r, col, value)
    info.set_column(0, 0, 16)
    info.set_column(3, 3, 48)
    wb.close()
    return buf.getvalue()

