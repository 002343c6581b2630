"""The order export's query (service/export_query.py): build_filter turns the parameters
of GET /station/sales_analysis/orderdetail into a half-open range on one time column,
and refuses reversed and too long ranges."""
from __future__ import annotations

import datetime as dt

import pytest

from chalicelib import texts
from chalicelib.errors import InvalidInput
from chalicelib.service.export_formats import ORDER_STATUS_LABELS
from chalicelib.service.export_query import QUERY_TYPE_NAMES, OrderDetailQuery, build_filter

D = dt.datetime
ORDER_DATE, OPERATION_CYCLE, RECEIVE_DATE = (
    next(code for code, name in QUERY_TYPE_NAMES.items() if name == wanted)
    for wanted in ("order date", "operation cycle", "receive date"))
CONFIRMED = next(code for code, label in ORDER_STATUS_LABELS.items() if label == "已确认")


def query(**kw):
    return OrderDetailQuery.model_validate(kw)


@pytest.mark.parametrize("query_type,column", [(ORDER_DATE, "order_time"),
                                               (RECEIVE_DATE, "receive_time")])
def test_date_ranges_become_half_open_on_their_column(query_type, column):
    f = build_filter("s001", query(query_type=query_type, start_date="2026-03-01",
                                   end_date="2026-03-31", status=CONFIRMED,
                                   search_text="SO"), 366)
    assert (f.station_id, f.range_column, f.lo, f.hi) == ("s001", column, D(2026, 3, 1),
                                                          D(2026, 4, 1))
    assert (f.status, f.search_text, f.search_area, f.time_config_id) == (
        CONFIRMED, "SO", None, None)


def test_an_operation_cycle_includes_its_end_second():
    f = build_filter("s001", query(query_type=OPERATION_CYCLE, time_config_id="tc1",
                                   cycle_start_time="2026-03-01 18:00:00",
                                   cycle_end_time="2026-03-02 18:00:00"), 366)
    assert (f.range_column, f.lo, f.hi, f.time_config_id) == (
        "cycle_start", D(2026, 3, 1, 18), D(2026, 3, 2, 18, 0, 1), "tc1")


@pytest.mark.parametrize("kw,days,field,text", [
    ({"query_type": ORDER_DATE, "start_date": "2026-03-02", "end_date": "2026-03-01"}, 366,
     "end_date", texts.END_BEFORE_START(start="start_date")),
    ({"query_type": OPERATION_CYCLE, "time_config_id": "t",
      "cycle_start_time": "2026-03-02 00:00:00",
      "cycle_end_time": "2026-03-01 00:00:00"}, 366, "cycle_end_time",
     texts.END_BEFORE_START(start="cycle_start_time")),
    ({"query_type": RECEIVE_DATE, "start_date": "2026-03-01", "end_date": "2026-03-31"}, 30,
     "end_date", texts.RANGE_TOO_LONG(days=30)),
    ({"query_type": OPERATION_CYCLE, "time_config_id": "t",
      "cycle_start_time": "2026-03-01 00:00:00",
      "cycle_end_time": "2026-03-02 00:00:01"}, 1, "cycle_end_time", texts.RANGE_TOO_LONG(days=1)),
])
def test_reversed_and_too_long_ranges_are_refused(kw, days, field, text):
    with pytest.raises(InvalidInput) as err:
        build_filter("s001", query(**kw), days)
    assert [p.as_dict() for p in err.value.problems] == [{"field": field, "reason": text}]
    assert err.value.msg == f"{field} {text}"


def test_a_range_of_exactly_the_limit_is_accepted():
    f = build_filter("s001", query(query_type=ORDER_DATE, start_date="2026-03-01",
                                   end_date="2026-03-30"), 30)
    assert f.hi - f.lo == dt.timedelta(days=30)


def test_a_one_day_range_is_that_whole_day_and_nothing_of_the_next():
    f = build_filter("s001", query(query_type=RECEIVE_DATE, start_date="2026-02-28",
                                   end_date="2026-02-28"), 1)
    assert (f.lo, f.hi) == (D(2026, 2, 28), D(2026, 3, 1))      # [lo, hi): the 1st excluded
