"""#13 items 4, 5, 6 (and the class around them): the API answers bad input with a 4xx
envelope, never a 500, and never signs a link to an object that is not the task's own."""
from __future__ import annotations

import json

import pytest

from chalicelib.adapters import task_repo
from chalicelib.bootstrap import services
from tests.factories import raw_row


def internal(api, action, body, key):
    return api.post(f"/internal/task/{action}", body, headers={"X-Auth-Key": key})


def _task(api, key, station="s001"):
    _, body = internal(api, "add", {"station_id": station, "name": "worker_job", "type": 1}, key)
    return body["data"]["task_id"]


# -- item 4: only keys under the task's own prefix are signed; result has a size limit --------
@pytest.mark.parametrize("field", ["file_key", "error_report_key"])
@pytest.mark.parametrize("key", ["exports/s002/7/orders.csv", "reports/s002/1/errors-run1.csv",
                                 "secrets/prod.env", "exports/s001/999/x.csv",
                                 "exports/s001/{id}/../../s002/7/orders.csv", "", 42])
def test_internal_result_cannot_name_an_object_outside_the_task(api, internal_key, field, key):
    task_id = _task(api, internal_key)
    key = key.replace("{id}", str(task_id)) if isinstance(key, str) else key
    status, body = internal(api, "finish", {"station_id": "s001", "task_id": task_id,
                                            "result": {field: key}}, internal_key)
    assert status == 400 and body["code"] == 40001, body
    assert raw_row(task_id).status == 1                 # nothing written


def test_internal_result_with_its_own_key_is_signed(api, internal_key):
    task_id = _task(api, internal_key)
    own = f"exports/s001/{task_id}/orders.csv"
    internal(api, "start", {"station_id": "s001", "task_id": task_id}, internal_key)
    status, body = internal(api, "finish", {"station_id": "s001", "task_id": task_id,
                                            "result": {"file_key": own}}, internal_key)
    assert status == 200 and "link" in body["data"]["result"], body
    assert own in body["data"]["result"]["link"]


def test_a_stored_foreign_key_is_never_signed(api, internal_key, station_token):
    """Rows written before the check (or by SQL) are shown without a link."""
    task_id = _task(api, internal_key)
    services().db.run(lambda cur: task_repo.update_fields(
        cur, task_id, {"result": {"file_key": "exports/s002/7/orders.csv", "rows": 3}}))
    status, body = api.get("/task/get", {"task_id": task_id},
                           headers={"Authorization": f"Bearer {station_token}"})
    assert status == 200 and body["data"]["result"] == {"rows": 3}


def test_result_over_the_size_limit_is_413(api, internal_key):
    task_id = _task(api, internal_key)
    big = {"rows": ["x" * 1000] * 100}                     # ~100 KB
    for action in ("update", "finish"):
        status, body = internal(api, action, {"station_id": "s001", "task_id": task_id,
                                              "result": big}, internal_key)
        assert status == 413 and body["code"] == 41300, body
    assert raw_row(task_id).result is None


# -- items 5 and 6: deep nesting and lone surrogates are bad input ---------------------------
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
