"""Request bodies the API refuses before any handler runs: JSON nested deeper than the
limit, and text with lone UTF-16 surrogates (escaped in valid JSON) in any field or key.
Both are bad input (400, {code, msg}), never a 500; surrogate pairs are ordinary text.
The fuzzer for the same class is test_fuzz_hostile_bodies.py."""
from __future__ import annotations

import json

import pytest


def _deep(n: int) -> str:
    return '{"station_id": "s001", "name": "x", "type": 1, "input": ' + "[" * n + "]" * n + "}"


@pytest.mark.parametrize("path,authorized", [("/internal/task/add", False),
                                             ("/station/product/copy_task", True),
                                             ("/task/clear_show", True),
                                             ("/station/order/batch/submit", True)])
def test_deeply_nested_json_is_a_400(api, internal_key, station_token, path, authorized):
    headers = ({"Authorization": f"Bearer {station_token}"} if authorized
               else {"X-Auth-Key": internal_key})
    status, body = api.post_raw(path, _deep(100_000).encode(), headers=headers)
    assert status == 400 and body["code"] == 40002, body


def test_nesting_deeper_than_the_limit_is_refused_but_ordinary_json_passes(api, internal_key):
    status, body = api.post_raw("/internal/task/add", _deep(200).encode(),
                                headers={"X-Auth-Key": internal_key})
    assert status == 400 and body["code"] == 40002
    status, body = api.post_raw("/internal/task/add", _deep(20).encode(),
                                headers={"X-Auth-Key": internal_key})
    assert status == 200, body


@pytest.mark.parametrize("field", ["name", "user_task_id", "business_name", "input"])
def test_lone_surrogate_in_a_free_form_field_is_a_400(api, internal_key, field):
    doc = {"station_id": "s001", "name": "x", "type": 1, field: "bad \ud800 text"}
    raw = json.dumps(doc).encode()                          # "\ud800" escaped, valid JSON
    status, body = api.post_raw("/internal/task/add", raw, headers={"X-Auth-Key": internal_key})
    assert status == 400 and body["code"] == 40001, body


def test_lone_surrogate_in_a_nested_value_or_key_is_a_400(api, internal_key, station_token):
    for doc in ({"station_id": "s001", "name": "x", "type": 1, "input": {"a": ["\udfff"]}},
                {"station_id": "s001", "name": "x", "type": 1, "input": {"\ud83d": 1}}):
        status, body = api.post_raw("/internal/task/add", json.dumps(doc).encode(),
                                    headers={"X-Auth-Key": internal_key})
        assert status == 400, body
    status, body = api.post_raw("/station/product/copy_task", json.dumps(
        {"source_shop_id": 1, "target_shop_id": 2, "filter": {"category": "\ud800"}}).encode(),
        headers={"Authorization": f"Bearer {station_token}"})
    assert status == 400 and body["code"] == 40001, body


def test_surrogate_pair_is_fine(api, internal_key):
    doc = {"station_id": "s001", "name": "x", "type": 1, "business_name": "ok \ud83d\ude00"}
    status, body = api.post_raw("/internal/task/add", json.dumps(doc).encode(),
                                headers={"X-Auth-Key": internal_key})
    assert status == 200 and body["data"]["business_name"] == "ok 😀", body
