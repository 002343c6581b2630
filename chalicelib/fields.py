"""Field types of the request models: each checks one rule and describes the same rule in
the model's JSON Schema (and so in /openapi.json), so the code and the description agree.

- `Id`: a positive 64-bit integer. A JSON number with no fraction (`12.0`) is an integer,
  as JSON Schema says; strings and booleans are not.
- `Text(n)`: a string of at most n characters (counted as sent) holding at least one
  non-space character (the pattern NOT_BLANK), handed on without surrounding spaces.
- `LocalDate` / `LocalDateTime(...)`: `YYYY-MM-DD` and `YYYY-MM-DD HH:MM:SS` local times
  without a zone; the pattern is exact (months, days per month, leap years, the year
  range), and the value is parsed by the same pattern.
- `exactly_one(...)`: the `oneOf` of "exactly one of these fields" for a model's schema.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict, StrictStr, WithJsonSchema

from chalicelib import texts

MAX_BIGINT = 2**63          # ids are BIGINT: 1 .. 2**63 - 1


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def IntField(**constraints: Any) -> Any:
    """A JSON integer (12 or 12.0, never "12" or true) with the given bounds."""
    return Annotated[int, Strict(), Field(**constraints), BeforeValidator(_integral)]


Id = IntField(gt=0, lt=MAX_BIGINT)
_CANONICAL_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")


def _query_int(value: Any) -> Any:
    """Query strings are text: an integer is its plain decimal form ("12", not "+12")."""
    if isinstance(value, str) and _CANONICAL_INT.fullmatch(value):
        return int(value)
    return value


def QueryInt(**constraints: Any) -> Any:
    """An integer query parameter with the given bounds."""
    return Annotated[int, Strict(), Field(**constraints), BeforeValidator(_query_int)]


QueryId = QueryInt(gt=0, lt=MAX_BIGINT)


def Choice(values: Any, *, query: bool = False, description: str | None = None) -> Any:
    """One of the integers `values` (an IntEnum class gives its members, and the value
    becomes the member); `query` for query strings."""
    allowed = sorted(int(v) for v in values)
    kind = values if isinstance(values, type) else None

    def check(value: int) -> Any:
        if value not in allowed:
            raise texts.invalid(texts.ONE_OF, allowed=", ".join(map(str, allowed)))
        return kind(value) if kind else value
    schema: dict[str, Any] = {"type": "integer", "enum": allowed}
    if description:
        schema["description"] = description
    return Annotated[int, Strict(), AfterValidator(check),
                     BeforeValidator(_query_int if query else _integral), WithJsonSchema(schema)]
# White space as JSON Schema's (ECMA-262) `\s` has it, spelled out: Python's `\s` and
# str.strip() differ from it (U+001C..U+001F, U+0085, U+FEFF).
SPACES = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
          "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
NOT_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_NOT_BLANK = re.compile(NOT_BLANK)


def _stripped(required: bool) -> Any:
    def check(value: str) -> str:
        if required and not _NOT_BLANK.search(value):
            raise texts.invalid(texts.NOT_BLANK)
        return value.strip(SPACES)
    return check


def Text(max_length: int, *, required: bool = True, strict: bool = True,
         description: str | None = None) -> Any:
    """A string of at most `max_length` characters as sent; `required` ones must hold a
    non-space character. The value is stripped after the checks. `strict=False` for
    query strings (always text)."""
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if required:
        schema.update(minLength=1, pattern=NOT_BLANK)
    if description:
        schema["description"] = description
    base = StrictStr if strict else str
    return Annotated[base, Field(max_length=max_length), AfterValidator(_stripped(required)),
                     WithJsonSchema(schema)]


# -- local dates and times ------------------------------------------------------------------
def _range(lo: int, hi: int, width: int) -> str:
    """A regex for the zero-padded decimal numbers lo..hi of `width` digits."""
    if width == 0:
        return ""
    a, b = f"{lo:0{width}d}", f"{hi:0{width}d}"
    if a[0] == b[0]:
        return a[0] + _group(_range(int(a[1:] or 0), int(b[1:] or 0), width - 1))
    parts = []
    full_lo, full_hi = int(a[0]), int(b[0])
    rest_max = 10 ** (width - 1) - 1
    if int(a[1:] or 0) != 0:
        parts.append(a[0] + _group(_range(int(a[1:]), rest_max, width - 1)))
        full_lo += 1
    if int(b[1:] or 0) != rest_max:
        tail = b[0] + _group(_range(0, int(b[1:]), width - 1))
        full_hi -= 1
    else:
        tail = None
    if full_lo <= full_hi:
        digit = str(full_lo) if full_lo == full_hi else f"[{full_lo}-{full_hi}]"
        parts.append(digit + ("[0-9]" * (width - 1)))
    if tail:
        parts.append(tail)
    return "|".join(parts)


def _group(expr: str) -> str:
    return f"(?:{expr})" if "|" in expr else expr


_MONTH_DAY = ("(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
              "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              "|02-(?:0[1-9]|1[0-9]|2[0-8]))")


def date_pattern(min_year: int, max_year: int) -> str:
    """`YYYY-MM-DD` for real calendar days of the years min_year..max_year (4 digits)."""
    leap = [y for y in range(min_year, max_year + 1)
            if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)]
    # Feb 29: centuries whose every leap year is in range share one expression; the others
    # (at the ends of the range) and the years divisible by 400 are listed.
    regular = tuple(f"{n:02d}" for n in range(4, 100, 4))
    suffixes: dict[int, list[str]] = {}
    for y in leap:
        if y % 100:
            suffixes.setdefault(y // 100, []).append(f"{y % 100:02d}")
    full = [c for c, ys in suffixes.items() if tuple(ys) == regular]
    parts = [f"{c:02d}(?:{'|'.join(ys)})" for c, ys in suffixes.items() if c not in full]
    if full:
        assert max(full) - min(full) + 1 == len(full)
        parts.append(_group(_range(min(full), max(full), 2))
                     + "(?:0[48]|[2468][048]|[13579][26])")
    centuries = [f"{y // 100:02d}" for y in leap if y % 100 == 0]
    if centuries:
        parts.append(f"(?:{'|'.join(centuries)})00")
    years = _group(_range(min_year, max_year, 4))
    return f"^(?:{years}-{_MONTH_DAY}|(?:{'|'.join(parts)})-02-29)$"


_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"


def datetime_pattern(min_year: int, max_year: int, separators: str = " ") -> str:
    date = date_pattern(min_year, max_year)[1:-1]
    sep = separators if len(separators) == 1 else f"[{separators}]"
    return f"^{date}{sep}{_TIME}$"


def _parser(pattern: str, fmt: str, kind: type, text: texts.Text, **params: Any) -> Any:
    compiled = re.compile(pattern)

    def parse(value: Any) -> Any:
        if isinstance(value, str) and compiled.fullmatch(value):
            parsed = dt.datetime.strptime(value.replace("T", " "), fmt)
            return parsed.date() if kind is dt.date else parsed
        raise texts.invalid(text, **params)
    return parse


def LocalDate(min_year: int, max_year: int, **field: Any) -> Any:
    pattern = date_pattern(min_year, max_year)
    return Annotated[dt.date, BeforeValidator(_parser(pattern, "%Y-%m-%d", dt.date,
                                                      texts.DATE_FORMAT, min_year=min_year,
                                                      max_year=max_year)),
                     WithJsonSchema({"type": "string", "pattern": pattern,
                                     "examples": ["2026-11-28"], **field})]


def LocalDateTime(min_year: int, max_year: int, separators: str = " ", *,
                  text: texts.Text = texts.DATETIME_FORMAT, **field: Any) -> Any:
    pattern = datetime_pattern(min_year, max_year, separators)
    return Annotated[dt.datetime, BeforeValidator(_parser(
        pattern, "%Y-%m-%d %H:%M:%S", dt.datetime, text, min_year=min_year,
        max_year=max_year)),
        WithJsonSchema({"type": "string", "pattern": pattern,
                        "examples": ["2026-11-28 08:00:00"], **field})]


def exactly_one(*groups: dict[str, Any]) -> dict[str, Any]:
    """`oneOf` branches, each a dict of the properties that branch requires (with any extra
    constraints they take in that branch)."""
    return {"oneOf": [{"required": sorted(g), "properties": g} for g in groups]}


# -- completion callbacks -------------------------------------------------------------------
CALLBACK_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[!-~]+$"
_CALLBACK = re.compile(CALLBACK_PATTERN)


def _callback(value: str) -> str:
    if not _CALLBACK.fullmatch(value):
        raise texts.invalid(texts.CALLBACK_SYNTAX)
    return value


def CallbackUrl(*, strict: bool = True) -> Any:
    """`callback_url`: where the task's item is POSTed when it ends. The schema states the
    syntax; the stage's rules (https only, host on CALLBACK_HOSTS, a public address) are
    checked at creation by service/callback_check.py (40010/40011/40012)."""
    schema = {"type": "string", "format": "uri", "maxLength": 2048, "pattern": CALLBACK_PATTERN,
              "description": "https URL whose host is on the stage's allow-list and resolves "
                             "to public addresses; the task's item is POSTed to it, signed, "
                             "when the task ends (docs/notifications.md)",
              "examples": ["https://hooks.example.com/tasks"]}
    base = StrictStr if strict else str
    return Annotated[base, Field(max_length=2048), AfterValidator(_callback),
                     WithJsonSchema(schema)]
