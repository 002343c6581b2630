"""The field types check exactly what their JSON Schema says (chalicelib/fields.py)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from pydantic import BaseModel, ValidationError

from chalicelib.fields import Id, LocalDate, LocalDateTime, QueryId, Text, date_pattern


@pytest.mark.parametrize("lo,hi", [(1000, 9998), (1970, 9999)])
def test_date_pattern_matches_exactly_the_calendar_days_of_the_range(lo, hi):
    pattern = re.compile(date_pattern(lo, hi))
    for year in [*range(lo, lo + 30), *range(lo, hi, 97), *range(hi - 30, hi + 1)]:
        day = dt.date(year, 1, 1)
        while day.year == year:                 # every day of these years matches
            assert pattern.fullmatch(day.isoformat()), day
            if day == dt.date.max:
                break
            day += dt.timedelta(days=1)
    for y in range(lo, hi + 1):                 # Feb 29 only in leap years
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        assert bool(pattern.fullmatch(f"{y:04d}-02-29")) == leap, y
    for text in (f"{lo - 1:04d}-06-01", "2026-02-30", "2026-04-31", "2026-13-01", "2026-00-10",
                 "2026-1-01", "2026-01-01 ", "10000-01-01", "2026-01-01T00:00:00"):
        assert not pattern.fullmatch(text), text


class M(BaseModel):
    id: Id = 1
    qid: QueryId = 1
    text: Text(4) = "x"
    day: LocalDate(1000, 9998) = None
    at: LocalDateTime(1000, 9998, " T") = None


@pytest.mark.parametrize("field,value,parsed", [
    ("id", 12, 12), ("id", 12.0, 12), ("qid", "12", 12), ("text", " ab ", "ab"),
    ("text", "abcd", "abcd"), ("day", "2024-02-29", dt.date(2024, 2, 29)),
    ("at", "2026-03-01T08:00:00", dt.datetime(2026, 3, 1, 8)),
    ("at", "2026-03-01 23:59:59", dt.datetime(2026, 3, 1, 23, 59, 59)),
])
def test_what_the_schema_calls_valid_is_accepted(field, value, parsed):
    assert getattr(M.model_validate({field: value}), field) == parsed


@pytest.mark.parametrize("field,value", [
    ("id", "12"), ("id", True), ("id", 12.5), ("id", 0), ("id", 2**63), ("qid", "+12"),
    ("qid", "012"), ("qid", " 12"), ("text", "   "), ("text", "abcd "), ("text", 5),
    ("day", "2023-02-29"), ("day", "9999-01-01"), ("day", "1700000000"),
    ("at", "2026-03-01T08:00:00Z"), ("at", "2026-03-01 24:00:00"), ("at", "2026-03-01 08:00"),
    ("at", "2026-03-01 08:00:00.5"),
])
def test_what_the_schema_calls_invalid_is_refused(field, value):
    with pytest.raises(ValidationError):
        M.model_validate({field: value})
    schema = M.model_json_schema()["properties"][field]
    schema = next((b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"), schema)
    import jsonschema
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, schema)
