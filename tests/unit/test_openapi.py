"""The OpenAPI spec describes exactly the routes the app serves, with the right auth."""
from __future__ import annotations

import json

from chalicelib.api.openapi import ERROR_CODES, OPERATIONS, build_spec
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


def test_error_codes_match_docs():
    doc = (__import__("pathlib").Path(__file__).resolve().parents[2]
           / "docs" / "errors.md").read_text()
    documented = {int(line.split("|")[1]) for line in doc.splitlines()
                  if line.startswith("| ") and line.split("|")[1].strip().isdigit()}
    assert documented - {0} == set(ERROR_CODES)


def test_spec_is_valid_openapi_31():
    from openapi_spec_validator import validate
    validate(build_spec())


def test_request_schemas_come_from_the_models():
    schemas = build_spec()["components"]["schemas"]
    body = schemas["CopyTaskRequest"]
    assert set(body["required"]) == {"source_shop_id", "target_shop_id"}
    assert body["properties"]["source_shop_id"]["exclusiveMinimum"] == 0
    params = build_spec()["paths"]["/task/get"]["get"]["parameters"]
    assert {p["name"] for p in params} == {"task_id", "user_task_id"}


def test_spec_is_served_without_auth():
    status, body = GatewayClient(_app()).get("/openapi.json")
    assert status == 200
    assert body["openapi"].startswith("3.1")
    assert json.dumps(body, sort_keys=True) == json.dumps(build_spec(), sort_keys=True)
    assert set(OPERATIONS) == _documented()
