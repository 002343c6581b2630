"""Assertions on the platform's error bodies: the code (the contract), a msg in Chinese with
the English in parentheses (chalicelib/texts.py), and the problems a refused request lists."""
from __future__ import annotations

import re
from typing import Any, Optional

CJK = re.compile(r"[\u4e00-\u9fff]")


def bilingual(msg: Any) -> bool:
    """Chinese first, then the English in parentheses."""
    return isinstance(msg, str) and bool(CJK.search(msg.split("（", 1)[0])) and "（" in msg


def problem_fields(body: dict[str, Any]) -> Optional[list[str]]:
    """The field paths of data.errors, in order; None when data is null."""
    data = body.get("data")
    if data is None:
        return None
    assert set(data) == {"errors"}, body
    for problem in data["errors"]:
        assert set(problem) == {"field", "reason"} and bilingual(problem["reason"]), problem
    return [p["field"] for p in data["errors"]]


def assert_refused(body: dict[str, Any], code: int, *fields: str) -> None:
    """`body` is the error `code` with a bilingual msg; with `fields`, data.errors lists
    exactly those (and msg starts with the first problem)."""
    assert body["code"] == code and bilingual(body["msg"]), body
    if fields:
        assert problem_fields(body) == list(fields), body
        first = body["data"]["errors"][0]
        assert body["msg"].startswith(f"{first['field']} {first['reason']}".lstrip()), body
