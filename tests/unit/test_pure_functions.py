"""Pure functions of the services, without a database: the export's filter, the import's
row reasons, the error report, the message router and a chunk run's shared state."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading

import pytest
from pydantic import ValidationError

from chalicelib import texts
from chalicelib.domain.chunk import DetailOutcome, Outcome
from chalicelib.domain.run import RunResult
from chalicelib.errors import InvalidInput
from chalicelib.service.chunk_run import ChunkRun
from chalicelib.service.processors import WorkItem
from chalicelib.service.finalize import error_report_csv
from chalicelib.service.messages import MalformedMessage, MessageRouter
from chalicelib.service.export_query import OrderDetailQuery, build_filter
from chalicelib.service.order_import import OrderRow, row_reason

D = dt.datetime


# -- build_filter -----------------------------------------------------------------------------
def query(**kw):
    return OrderDetailQuery.model_validate(kw)


@pytest.mark.parametrize("query_type,column", [(1, "order_time"), (3, "receive_time")])
def test_date_ranges_become_half_open_on_their_column(query_type, column):
    f = build_filter("s001", query(query_type=query_type, start_date="2026-03-01",
                                   end_date="2026-03-31", status=2, search_text="SO"), 366)
    assert (f.station_id, f.range_column, f.lo, f.hi) == ("s001", column, D(2026, 3, 1),
                                                          D(2026, 4, 1))
    assert (f.status, f.search_text, f.search_area, f.time_config_id) == (2, "SO", None, None)


def test_an_operation_cycle_includes_its_end_second():
    f = build_filter("s001", query(query_type=2, time_config_id="tc1",
                                   cycle_start_time="2026-03-01 18:00:00",
                                   cycle_end_time="2026-03-02 18:00:00"), 366)
    assert (f.range_column, f.lo, f.hi, f.time_config_id) == (
        "cycle_start", D(2026, 3, 1, 18), D(2026, 3, 2, 18, 0, 1), "tc1")


@pytest.mark.parametrize("kw,days,field,text", [
    ({"query_type": 1, "start_date": "2026-03-02", "end_date": "2026-03-01"}, 366,
     "end_date", texts.END_BEFORE_START(start="start_date")),
    ({"query_type": 2, "time_config_id": "t", "cycle_start_time": "2026-03-02 00:00:00",
      "cycle_end_time": "2026-03-01 00:00:00"}, 366, "cycle_end_time",
     texts.END_BEFORE_START(start="cycle_start_time")),
    ({"query_type": 3, "start_date": "2026-03-01", "end_date": "2026-03-31"}, 30,
     "end_date", texts.RANGE_TOO_LONG(days=30)),
    ({"query_type": 2, "time_config_id": "t", "cycle_start_time": "2026-03-01 00:00:00",
      "cycle_end_time": "2026-03-02 00:00:01"}, 1, "cycle_end_time", texts.RANGE_TOO_LONG(days=1)),
])
def test_reversed_and_too_long_ranges_are_refused(kw, days, field, text):
    with pytest.raises(InvalidInput) as err:
        build_filter("s001", query(**kw), days)
    assert [p.as_dict() for p in err.value.problems] == [{"field": field, "reason": text}]
    assert err.value.msg == f"{field} {text}"


def test_a_range_of_exactly_the_limit_is_accepted():
    f = build_filter("s001", query(query_type=1, start_date="2026-03-01",
                                   end_date="2026-03-30"), 30)
    assert f.hi - f.lo == dt.timedelta(days=30)


# -- row_reason ------------------------------------------------------------------------------
def reason_of(row: dict, row_no: int = 7) -> str:
    with pytest.raises(ValidationError) as err:
        OrderRow.model_validate(row)
    return row_reason(row_no, err.value)


GOOD_LINE = {"sku": "A", "name": "苹果", "quantity": "1", "unit_price": "2.00"}


def test_row_reason_names_the_row_the_field_and_the_problem():
    assert reason_of({"receive_time": "2026-03-01 08:00:00", "lines": [GOOD_LINE]}) == (
        "第 7 行：customer_name 必填（is required）")
    assert reason_of({"customer_name": "张三", "receive_time": "tomorrow",
                      "lines": [GOOD_LINE]}, 3) == (
        "第 3 行：receive_time 格式须为 YYYY-MM-DD HH:MM:SS（must be 'YYYY-MM-DD HH:MM:SS'）")


def test_row_reason_points_into_lines_and_joins_several_problems():
    reason = reason_of({"customer_name": "张三", "receive_time": "2026-03-01 08:00:00",
                        "lines": [GOOD_LINE, {**GOOD_LINE, "quantity": "0", "sku": ""}]})
    assert reason.startswith("第 7 行：")
    assert "lines[1].quantity 必须大于 0（must be > 0）" in reason
    assert "lines[1].sku 至少 1 个字符（must have at least 1 character(s)）" in reason
    assert "；" in reason


def test_row_reason_of_a_whole_row_check_has_no_field():
    reason = reason_of({"customer_name": "张三", "receive_time": "2026-03-01 08:00:00",
                        "order_time": "2026-03-02 08:00:00", "lines": [GOOD_LINE]})
    assert reason == "第 7 行：receive_time 早于 order_time（receive_time is before order_time）"


def test_row_reason_of_an_uploaded_order_names_its_spreadsheet_rows():
    with pytest.raises(ValidationError) as err:
        OrderRow.model_validate({"source_rows": "3-5", "receive_time": "2026-03-01 08:00:00",
                                 "lines": [GOOD_LINE]})
    assert row_reason(2, err.value, {"source_rows": "3-5"}) == (
        "第 2 条订单（表格第 3-5 行）：customer_name 必填（is required）")
    # a hint that is not a row range is not repeated into the reason
    assert row_reason(2, err.value, {"source_rows": "<b>"}).startswith("第 2 行：")


# -- error_report_csv ------------------------------------------------------------------------
def test_error_report_is_a_utf8_csv_with_a_bom_and_quoted_reasons():
    data = error_report_csv([{"seq": 0, "item_id": 11, "reason": "商品不存在"},
                             {"seq": 5, "item_id": 16, "reason": 'bad, "quoted"\nline'}])
    assert data.startswith("\ufeff".encode("utf-8"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [["seq", "item_id", "reason"], ["0", "11", "商品不存在"],
                    ["5", "16", 'bad, "quoted"\nline']]


def test_an_empty_error_report_has_its_header():
    assert error_report_csv([]).decode("utf-8-sig").splitlines() == ["seq,item_id,reason"]


# -- MessageRouter ---------------------------------------------------------------------------
def test_the_router_hands_a_message_to_its_kinds_handler():
    router, seen = MessageRouter(), []
    router.register("chunk", lambda msg, remaining: seen.append((msg, remaining())) or
                    RunResult.COMPLETE)
    body = json.dumps({"kind": "chunk", "task_id": 1, "chunk": 0})
    assert router.handle(body, lambda: 1234) is RunResult.COMPLETE
    assert seen == [({"kind": "chunk", "task_id": 1, "chunk": 0}, 1234)]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"chunk"', '{"task_id": 1}',
                                  '{"kind": "nobody", "task_id": 1}'])
def test_the_router_refuses_what_it_cannot_route(body):
    router = MessageRouter()
    router.register("chunk", lambda msg, remaining: RunResult.COMPLETE)
    with pytest.raises(MalformedMessage):
        router.handle(body, lambda: 1000)


# -- ChunkRun --------------------------------------------------------------------------------
def items(n: int):
    return iter([WorkItem(seq=i, item_id=100 + i, payload=None) for i in range(n)])


def ok(seq: int) -> DetailOutcome:
    return DetailOutcome(seq, 100 + seq, Outcome.SUCCEEDED)


def test_a_run_hands_out_each_item_once_and_batches_outcomes():
    run = ChunkRun(items(5), threads=1, batch_size=2)
    taken = []
    while (item := run.take()) is not None:
        taken.append(item.seq)
        run.put(ok(item.seq) if item.seq != 3 else None)     # item 3: downstream away
    run.runner_done()
    batch, running = run.wait_batch(0)
    assert taken == [0, 1, 2, 3, 4] and running == 0
    assert [o.seq for o in batch] == [0, 1, 2, 4]
    assert (run.handled, run.left_pending) == (4, 1)


def test_stop_ends_taking_but_keeps_what_was_put():
    run = ChunkRun(items(5), threads=2, batch_size=10)
    run.put(ok(run.take().seq))
    run.stop()
    assert run.take() is None and run.stopped
    batch, running = run.wait_batch(0)
    assert [o.seq for o in batch] == [0] and running == 2


def test_wait_batch_wakes_on_a_full_batch_and_on_a_runner_exit():
    run = ChunkRun(items(4), threads=2, batch_size=2)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(run.wait_batch(30)))
    waiter.start()
    run.put(ok(0))
    run.put(ok(1))                  # a full batch: the recording thread wakes at once
    waiter.join(10)
    assert [o.seq for o in got[0][0]] == [0, 1] and got[0][1] == 2
    waiter = threading.Thread(target=lambda: got.append(run.wait_batch(30)))
    waiter.start()
    run.runner_done()               # a runner leaves: wakes too, with what there is
    waiter.join(10)
    assert got[1] == ([], 1)


def test_put_and_take_is_put_then_take():
    run = ChunkRun(items(3), threads=1, batch_size=2)
    item = run.take()
    seen = []
    while item is not None:
        seen.append(item.seq)
        item = run.put_and_take(ok(item.seq) if item.seq != 1 else None)
    assert seen == [0, 1, 2] and (run.handled, run.left_pending) == (2, 1)
    run.stop()
    assert run.put_and_take(None) is None        # a stopped run hands out nothing more
    batch, _ = run.wait_batch(0)
    assert [o.seq for o in batch] == [0, 2]
