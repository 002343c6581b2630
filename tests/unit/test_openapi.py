"""The OpenAPI spec describes exactly the routes the app serves, with the right auth."""
from __future__ import annotations

import json
import re
from pathlib import Path

from chalicelib.api.openapi import ERROR_CLASSES, ERROR_CODES, OPERATIONS, build_spec
from tests.http_client import GatewayClient


def _app():
    import app as app_module
    return app_module.app


def _served() -> dict[tuple[str, str], object]:
    return {(path, method): entry
            for path, methods in _app().routes.items() for method, entry in methods.items()}


def _documented() -> set[tuple[str, str]]:
    return {(path, method.upper())
            for path, ops in build_spec()["paths"].items() for method in ops}


def test_every_route_has_a_spec_entry():
    missing = set(_served()) - _documented()
    assert not missing, f"routes without an OpenAPI entry (add them to OPERATIONS): {missing}"


def test_every_spec_entry_has_a_route():
    stale = _documented() - set(_served())
    assert not stale, f"OpenAPI entries without a route: {stale}"


def test_security_matches_the_route_authorizer():
    spec = build_spec()
    for (path, method), entry in _served().items():
        op = spec["paths"][path][method.lower()]
        has_bearer = {"bearerAuth": []} in op["security"]
        assert has_bearer == (getattr(entry.authorizer, "name", None) == "station_auth"), \
            f"{method} {path}: authorizer and spec security disagree"


def _docs_error_table() -> dict[int, int]:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    rows = [line.split("|") for line in doc.splitlines() if line.startswith("| ")]
    return {int(r[1]): int(r[2]) for r in rows
            if r[1].strip().isdigit() and r[2].strip().isdigit()}


def test_error_codes_and_statuses_match_docs():
    """The app's codes in docs/errors.md's table (generated: tests/unit/test_texts.py)."""
    documented = _docs_error_table()
    app_codes = {code: status for code, status in documented.items()
                 if code and code in ERROR_CODES}
    assert app_codes == {code: status for code, (status, _) in ERROR_CODES.items()}


def test_every_error_code_has_a_source():
    """Each code is raised by an error class of chalicelib/errors.py or answered by the
    gateway (infra/local/gateway.py; API Gateway's mapped responses on AWS)."""
    from infra.local.gateway import BODIES
    raised = {cls.code: cls.http_status for cls in ERROR_CLASSES}
    gateway = {code: status for status, (code, _) in BODIES.items()}
    assert {**raised, **gateway} == {code: status for code, (status, _) in ERROR_CODES.items()}


def test_each_operation_documents_its_error_codes():
    spec = build_spec()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    codes = response["content"]["application/json"]["schema"]["allOf"][1][
                        "properties"]["code"]["enum"]
                    assert codes and all(ERROR_CODES[c][0] == int(status) for c in codes), \
                        (method, path, status)
            if {"bearerAuth": []} in op["security"]:
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_spec_is_valid_openapi_31():
    from openapi_spec_validator import validate
    validate(build_spec())


def test_request_schemas_come_from_the_models():
    spec = build_spec()
    schemas = spec["components"]["schemas"]
    body = schemas["CopyTaskRequest"]
    assert set(body["required"]) == {"source_shop_id", "target_shop_id"}
    assert body["properties"]["source_shop_id"]["exclusiveMinimum"] == 0
    assert [b["required"] for b in body["oneOf"]] == [["product_ids"], ["filter"]]
    ids = body["properties"]["product_ids"]["anyOf"][0]
    assert (ids["minItems"], ids["maxItems"], ids["uniqueItems"]) == (1, 100_000, True)
    # A rule between query parameters: one exploded object parameter with a oneOf.
    (param,) = [p for p in spec["paths"]["/task/get"]["get"]["parameters"] if p["in"] == "query"]
    assert (param["in"], param["style"], param["explode"]) == ("query", "form", True)
    assert set(param["schema"]["properties"]) == {"task_id", "user_task_id"}
    assert [b["required"] for b in param["schema"]["oneOf"]] == [["task_id"], ["user_task_id"]]
    ids_body = schemas["TaskIdsBody"]
    assert [b["properties"] for b in ids_body["oneOf"]] == [
        {"task_ids": {"minItems": 1}}, {"user_task_ids": {"minItems": 1}}]
    limit = next(p for p in spec["paths"]["/task/list"]["get"]["parameters"]
                 if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 100
    retry = schemas["TaskRetryBody"]["properties"]["task_id"]
    assert retry["type"] == "integer"
    assert schemas["OrderBatchSubmit"]["properties"]["order_data"]["minItems"] == 1
    (export,) = spec["paths"]["/station/sales_analysis/orderdetail"]["get"]["parameters"]
    props = export["schema"]["properties"]
    assert props["query_type"]["enum"] == [1, 2, 3]
    assert "format" not in props["cycle_start_time"]
    assert re.fullmatch(props["cycle_start_time"]["pattern"], "2026-03-01 08:00:00")
    assert not re.fullmatch(props["cycle_start_time"]["pattern"], "2026-03-01T08:00:00Z")
    assert [b["required"] for b in export["schema"]["oneOf"]] == [
        ["start_date", "end_date"], ["time_config_id", "cycle_start_time", "cycle_end_time"]]
    list_params = {p["name"]: p["schema"] for p in spec["paths"]["/task/list"]["get"]["parameters"]}
    assert list_params["status"]["enum"] == [1, 2, 3, 4, 5]
    assert list_params["type"]["enum"] == [0, 1, 2]


def test_responses_are_typed():
    spec = build_spec()
    data = spec["paths"]["/task/get"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["data"]
    assert data == {"$ref": "#/components/schemas/TaskItem"}
    item = spec["components"]["schemas"]["TaskItem"]
    assert {"task_id", "status", "progress", "counts", "result"} <= set(item["required"])
    export = spec["paths"]["/station/sales_analysis/orderdetail"]["get"]["responses"]["200"]
    assert len(export["content"]["application/json"]["schema"]["properties"]["data"]["oneOf"]) == 2


def test_a_task_item_is_what_the_description_says():
    import datetime as dt
    import jsonschema
    from chalicelib.adapters import task_repo
    from chalicelib.api.present import task_item

    class Files:
        def link(self, key):
            return f"https://s3.example/{key}?sig"
    row = {"id": 7, "station_id": "s001", "user_task_id": None, "name": "product_copy", "business_name": "商品复制",
           "status": 4, "reason": "共 2 项，失败 1 项，详见错误报告", "progress": 100, "type": 2,
           "result": {"total": 2, "succeeded": 1, "failed": 1, "error_report_key": "reports/s001/7/errors-run1.csv"},
           "run_count": 1, "cancelled": 0, "total_items": 2, "succeeded_items": 1,
           "failed_items": 1, "cancelled_items": 0, "creat_time": dt.datetime(2026, 11, 28, 8),
           "start_time": dt.datetime(2026, 11, 28, 8, 0, 1), "end_time": None,
           "repeat": 0, "message_show": 1, "modify_time": dt.datetime(2026, 11, 28, 8, 0, 2),
           "business_id": 0, "run_base_done": 0,
           "callback_url": "https://hooks.example.com/t", "notified_at": dt.datetime(2026, 11, 28, 9),
           "notify_attempts": 2, "notify_last_error": "HTTP 503"}
    spec = build_spec()
    schema = {**spec["components"]["schemas"]["TaskItem"],
              "components": spec["components"]}
    item = json.loads(json.dumps(task_item(task_repo.from_row(row), Files())))
    jsonschema.validate(item, json.loads(json.dumps(schema).replace(
        "#/components/schemas/", "#/components/schemas/")))
    assert item["result"]["error_report_url"].startswith("https://")


def test_spec_is_served_without_auth():
    status, body = GatewayClient(_app()).get("/openapi.json")
    assert status == 200
    assert body["openapi"].startswith("3.1")
    assert json.dumps(body, sort_keys=True) == json.dumps(build_spec(), sort_keys=True)
    assert set(OPERATIONS) == _documented()


def test_every_registered_kind_has_its_answer_typed():
    from chalicelib.api.openapi import KIND_DOCS
    from chalicelib.kinds import KINDS
    assert {k.path for k in KINDS} <= set(KIND_DOCS), "add the kind's answer to KIND_DOCS"
