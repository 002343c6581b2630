"""The order export's query: the parameters of GET /station/sales_analysis/orderdetail and
the order filter they make (a half-open range on one time column, plus filters)."""
from __future__ import annotations

import datetime as dt
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib import texts
from chalicelib.adapters.order_repo import OrderFilter
from chalicelib.errors import InvalidInput
from chalicelib.fields import CallbackUrl, Choice, LocalDate, LocalDateTime, Text
from chalicelib.service.export_formats import ORDER_STATUS_LABELS

QUERY_TYPE_FIELDS = {1: ("start_date", "end_date"),
                     2: ("time_config_id", "cycle_start_time", "cycle_end_time"),
                     3: ("start_date", "end_date")}
MIN_YEAR, MAX_YEAR = 1000, 9998       # MySQL DATETIME's range, with room for the range end
QUERY_TYPE_NAMES = {1: "order date", 2: "operation cycle", 3: "receive date"}
QUERY_TYPE_NAMES_ZH = {1: "下单日期", 2: "运营周期", 3: "收货日期"}     # the seed's


_Date = LocalDate(MIN_YEAR, MAX_YEAR)
_CycleTime = LocalDateTime(MIN_YEAR, MAX_YEAR, " T")


class OrderDetailQuery(BaseModel):
    """Query string of GET /station/sales_analysis/orderdetail (seed parameters). The
    conditional parameters are a oneOf on query_type (QUERY_TYPE_FIELDS)."""
    model_config = ConfigDict(extra="ignore", json_schema_extra={"oneOf": [
        {"properties": {"query_type": {"enum": sorted(t for t in QUERY_TYPE_FIELDS
                                                      if QUERY_TYPE_FIELDS[t] == fields)}},
         "required": list(fields)}
        for fields in dict.fromkeys(QUERY_TYPE_FIELDS.values())], "examples": [
        {"query_type": 1, "start_date": "2026-03-01", "end_date": "2026-03-31", "format": "csv"}]})
    query_type: Choice(QUERY_TYPE_NAMES, query=True,
                       description="1 order date, 2 operation cycle, 3 receive date")
    start_date: Optional[_Date] = Field(None, description="query_type 1 and 3")
    end_date: Optional[_Date] = Field(None, description="query_type 1 and 3 (inclusive)")
    time_config_id: Optional[Text(32, strict=False)] = Field(None, description="query_type 2")
    cycle_start_time: Optional[_CycleTime] = Field(None, description="query_type 2")
    cycle_end_time: Optional[_CycleTime] = Field(None, description="query_type 2 (inclusive)")
    status: Optional[Choice(ORDER_STATUS_LABELS, query=True, description=", ".join(
        f"{k} {v}" for k, v in ORDER_STATUS_LABELS.items()))] = None
    search_text: Optional[Text(64, strict=False)] = Field(
        None, description="order number or customer name contains")
    search_area: Optional[Text(64, strict=False)] = Field(
        None, description="area (地理标签) equals")
    format: Literal["xlsx", "csv", "yongyou"] = "xlsx"
    callback_url: Optional[CallbackUrl(strict=False)] = Field(
        None, description="notified when the export task ends (an async export only)")

    @model_validator(mode="after")
    def _conditional(self) -> "OrderDetailQuery":
        missing = [name for name in QUERY_TYPE_FIELDS[self.query_type]
                   if getattr(self, name) is None]
        if missing:
            raise texts.invalid(texts.REQUIRED_FOR_QUERY_TYPE, fields=missing,
                                query_type=self.query_type,
                                name_zh=QUERY_TYPE_NAMES_ZH[self.query_type],
                                name_en=QUERY_TYPE_NAMES[self.query_type])
        return self


def build_filter(station_id: str, q: OrderDetailQuery, max_range_days: int) -> OrderFilter:
    """The query as an order filter; refuses reversed and too long ranges (InvalidInput)."""
    if q.query_type == 2:
        lo, hi = q.cycle_start_time, q.cycle_end_time
        names = ("cycle_end_time", "cycle_start_time")
        too_long = hi - lo > dt.timedelta(days=max_range_days)
        column, hi_excl = "cycle_start", hi + dt.timedelta(seconds=1)
    else:
        lo_d, hi_d = q.start_date, q.end_date
        names = ("end_date", "start_date")
        lo, hi = dt.datetime.combine(lo_d, dt.time()), dt.datetime.combine(hi_d, dt.time())
        too_long = (hi_d - lo_d).days + 1 > max_range_days
        column = "order_time" if q.query_type == 1 else "receive_time"
        hi_excl = hi + dt.timedelta(days=1)
    if hi < lo:
        raise InvalidInput(texts.END_BEFORE_START(start=names[1]), field=names[0])
    if too_long:
        raise InvalidInput(texts.RANGE_TOO_LONG(days=max_range_days), field=names[0])
    return OrderFilter(station_id=station_id, range_column=column, lo=lo, hi=hi_excl,
                       time_config_id=q.time_config_id if q.query_type == 2 else None,
                       status=q.status, search_text=q.search_text, search_area=q.search_area)
