"""The one catalogue of user-facing texts (chalicelib/texts.py): every code and text in
Chinese with the English, docs/errors.md generated from it, raise sites using it, and a
refused request's problems listed with their field paths."""
from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib import errors, texts
from chalicelib.api.openapi import ERROR_CLASSES, ERROR_CODES
from chalicelib.service.copy_tasks import CopyTaskRequest
from chalicelib.service.export_query import OrderDetailQuery
from chalicelib.service.order_import import OrderRow

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_docs_errors_md_is_generated_from_the_catalogue():
    doc = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert texts.render_doc(doc) == doc, \
        "docs/errors.md differs from chalicelib/texts.py: python -m chalicelib.texts docs/errors.md"


def test_every_code_has_a_chinese_and_an_english_text():
    from infra.gateway_responses import GATEWAY_RESPONSES
    from infra.local.gateway import BODIES
    codes = (set(ERROR_CODES) | {cls.code for cls in ERROR_CLASSES}
             | {code for _, code, _ in GATEWAY_RESPONSES.values()}
             | {code for code, _ in BODIES.values()})
    assert codes <= set(texts.CODES)
    for code, entry in texts.CODES.items():
        assert CJK.search(entry.zh) and not CJK.search(entry.en), code
        assert entry.text == f"{entry.zh}（{entry.en}）"
    for response_type, (_, code, msg) in GATEWAY_RESPONSES.items():
        assert CJK.search(msg) and "（" in msg, response_type


@pytest.mark.parametrize("name,text", sorted(texts.catalogue().items())
                         + sorted(texts.PHRASES.items()))
def test_every_text_is_chinese_first_with_the_english(name, text):
    assert CJK.search(text.zh), name
    assert not CJK.search(text.en), name
    # the English may name what the Chinese leaves out ({msg}, {pattern}), never the reverse
    assert _placeholders(text.zh) <= _placeholders(text.en) | {"current_zh", "target_zh",
                                                              "name_zh"}, name


def _error_classes() -> dict[str, type]:
    """Every PlatformError subclass defined in chalicelib (imported through the app)."""
    import app  # noqa: F401  (imports every module that defines one)
    seen, todo = {}, [errors.PlatformError]
    while todo:
        cls = todo.pop()
        seen[cls.__name__] = cls
        todo += cls.__subclasses__()
    return seen


# Errors that never reach a user as `msg`: worker-side (SQS messages, leases, deadlines),
# the downstream's own words (kept for the error report), adapters' translations (a 5xx
# answers its code's text), each caught or answered by its code.
INTERNAL = {"MalformedMessage", "DeadlineReached", "LeaseLost", "TaskCancelled",
            "ProductCenterError", "PermanentItemError", "DownstreamUnavailable", "DuplicateKey", "QueueUnavailable",
            "DatabaseUnavailable", "Unavailable", "PlatformError"}


def test_raise_sites_take_their_text_from_the_catalogue():
    """A user-facing error is never made from a bare string: its text is texts.X(...)."""
    names = set(_error_classes()) - INTERNAL
    bare = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in names and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
                bare.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not bare, f"error texts not from chalicelib/texts.py: {bare}"


def test_a_request_with_three_problems_lists_the_three_with_their_paths():
    with pytest.raises(ValidationError) as err:
        CopyTaskRequest.model_validate({"source_shop_id": "1", "target_shop_id": 2,
                                        "product_ids": [1, 0], "filter": {"category": 5}})
    problems = texts.problems_of(err.value)
    assert [p.field for p in problems] == ["source_shop_id", "product_ids[1]",
                                           "filter.category"]
    assert all(CJK.search(p.reason) and "（" in p.reason for p in problems)
    assert texts.summary(problems) == (f"source_shop_id {texts.PHRASES['int_type']()}"
                                       f"{texts.MORE_PROBLEMS(count=3)}")


def test_nested_paths_use_the_requests_notation():
    with pytest.raises(ValidationError) as err:
        OrderRow.model_validate({"customer_name": "张三", "receive_time": "2026-03-01 08:00:00",
                                 "lines": [{"sku": "A", "name": "a", "quantity": "1",
                                            "unit_price": "1"},
                                           {"sku": "B", "name": "b", "quantity": "0",
                                            "unit_price": "x"}]})
    problems = texts.problems_of(err.value, "order_data[3]")
    assert [p.field for p in problems] == ["order_data[3].lines[1].quantity",
                                           "order_data[3].lines[1].unit_price"]


def test_a_rule_between_fields_lists_each_field_it_needs():
    with pytest.raises(ValidationError) as err:
        OrderDetailQuery.model_validate({"query_type": "2"})
    problems = texts.problems_of(err.value)
    assert [p.field for p in problems] == ["time_config_id", "cycle_start_time",
                                           "cycle_end_time"]
    assert problems[0].reason == texts.REQUIRED_FOR_QUERY_TYPE(
        query_type=2, name_zh="运营周期", name_en="operation cycle")


def test_an_error_about_one_field_is_that_fields_one_problem():
    exc = errors.InvalidInput(texts.DUPLICATE_IDS(), field="product_ids")
    assert exc.msg == f"product_ids {texts.DUPLICATE_IDS()}"
    assert [p.as_dict() for p in exc.problems] == [
        {"field": "product_ids", "reason": texts.DUPLICATE_IDS()}]


def test_a_text_from_outside_the_catalogue_gets_its_codes_chinese_first():
    assert texts.chinese_first("Unsupported Media Type: text/plain", 41500) == \
        "请求体须为 JSON（Unsupported Media Type: text/plain）"
    assert texts.chinese_first(texts.TASK_NOT_FOUND(), 40400) == texts.TASK_NOT_FOUND()
    assert texts.chinese_first("", 40400) == texts.CODES[40400].text
