"""The order export's file formats: columns, file and sheet names, content types."""
from __future__ import annotations

from dataclasses import dataclass

XLSX_MAX_ROWS = 1_048_576           # per worksheet, header included
# XlsxWriter's constant_memory mode keeps the sheet's XML (~800 bytes a row of demo data) in
# a temp file, and copies it once more while packaging: an XLSX export needs about this
# much temp space per row (1M rows: ~1.8 GB; Lambda's default /tmp is 512 MB).
XLSX_TMP_BYTES_PER_ROW = 1800

# tbl_order.status as the users read it.
ORDER_STATUS_LABELS = {1: "待确认", 2: "已确认", 3: "配送中", 4: "已签收", 5: "已取消"}


@dataclass(frozen=True)
class ExportFormat:
    name: str
    file_name: str
    download_name: str                          # what the user's browser saves it as
    content_type: str
    sheet: str                                  # worksheet name (xlsx formats)
    columns: tuple[tuple[str, str], ...]        # (header, order_repo.EXPORT_FIELDS name)

    @property
    def is_csv(self) -> bool:
        return self.file_name.endswith(".csv")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DETAIL_COLUMNS = (
    ("订单号", "order_no"), ("下单时间", "order_time"), ("收货时间", "receive_time"),
    ("运营周期", "cycle_start"), ("客户", "customer_name"), ("地址", "address"),
    ("地理标签", "area"), ("订单状态", "status"), ("商品编码", "sku"), ("商品名称", "name"),
    ("单位", "unit"), ("数量", "quantity"), ("单价", "unit_price"), ("金额", "amount"))
# Yonyou (用友 U8/T+) sales order import: header fields repeated on every body line.
YONGYOU_COLUMNS = (
    ("单据编号", "order_no"), ("单据日期", "order_date"), ("客户编码", "customer_id"),
    ("客户名称", "customer_name"), ("收货地址", "address"), ("地区", "area"),
    ("存货编码", "sku"), ("存货名称", "name"), ("主计量单位", "unit"), ("数量", "quantity"),
    ("含税单价", "unit_price"), ("价税合计", "amount"), ("备注", "remark"))
FORMATS = {
    "xlsx": ExportFormat("xlsx", "orderdetail.xlsx", "订单明细.xlsx", XLSX_TYPE, "订单明细",
                         DETAIL_COLUMNS),
    "csv": ExportFormat("csv", "orderdetail.csv", "订单明细.csv", "text/csv; charset=utf-8", "",
                        DETAIL_COLUMNS),
    "yongyou": ExportFormat("yongyou", "orderdetail-yongyou.xlsx", "用友销售订单.xlsx", XLSX_TYPE,
                            "销售订单", YONGYOU_COLUMNS),
}
