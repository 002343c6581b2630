"""The internal task API for worker-side processes, guarded by the shared auth_key."""
import pytest

from chalicelib.adapters import task_repo
from chalicelib.bootstrap import services
from tests.refusals import assert_refused
from chalicelib.domain.task import TaskStatus
from tests.factories import raw_row


def call(api, action, body, key):
    headers = {} if key is None else {"X-Auth-Key": key}
    return api.post(f"/internal/task/{action}", body, headers=headers)


def test_full_lifecycle_over_http(api, internal_key):
    status, body = call(api, "add", {"station_id": "s001", "name": "import_orders", "type": 0,
                                     "input": {"file": "a.xlsx"}, "user_task_id": "u9"},
                        internal_key)
    assert status == 200 and body["code"] == 0 and body["data"]["created"] is True
    task_id = body["data"]["task_id"]
    status, body = call(api, "start", {"station_id": "s001", "task_id": task_id}, internal_key)
    assert body["data"]["status"] == TaskStatus.RUNNING
    status, body = call(api, "update", {"station_id": "s001", "task_id": task_id, "progress": 50},
                        internal_key)
    assert body["data"]["progress"] == 50
    status, body = call(api, "finish", {"station_id": "s001", "task_id": task_id, "status": 3,
                                        "result": {"rows": 10}}, internal_key)
    assert body["data"]["status"] == TaskStatus.FINISHED and body["data"]["result"] == {"rows": 10}
    status, body = call(api, "get", {"station_id": "s001", "task_id": task_id}, internal_key)
    assert status == 200 and body["data"]["progress"] == 100


@pytest.mark.parametrize("key", [None, "", "wrong", "PREFIX", "LONGER"])
def test_wrong_key_is_refused_and_writes_nothing(api, internal_key, key):
    key = {"PREFIX": internal_key[:-1], "LONGER": internal_key + "x"}.get(key, key)
    status, body = call(api, "add", {"station_id": "s001", "name": "x", "type": 0}, key)
    assert status == 403 and body["code"] == 40300
    status, body = call(api, "get", {"station_id": "s001", "task_id": 1}, internal_key)
    assert status == 404


def test_illegal_transition_is_a_409(api, internal_key):
    _, body = call(api, "add", {"station_id": "s001", "name": "x", "type": 0}, internal_key)
    task_id = body["data"]["task_id"]
    status, body = call(api, "finish", {"station_id": "s001", "task_id": task_id, "status": 3},
                        internal_key)
    assert status == 409
    assert_refused(body, 40900)
    assert "已经提交" in body["msg"] and "submitted" in body["msg"]
    assert raw_row(task_id).status == TaskStatus.SUBMITTED


@pytest.mark.parametrize("body,fragment", [
    ({"name": "x", "type": 0}, "station_id"),
    ({"station_id": "s001", "type": 0}, "name"),
    ({"station_id": "s001", "name": "x", "type": 9}, "type"),
    ({"station_id": "s" * 17, "name": "x", "type": 0}, "station_id"),
])
def test_bad_add_bodies(api, internal_key, body, fragment):
    status, resp = call(api, "add", body, internal_key)
    assert status == 400
    assert_refused(resp, 40001, fragment)


def test_unknown_action(api, internal_key):
    # Each action is its own route: another is no route at all. Chalice's LocalGateway
    # answers that as API Gateway does (403, "Missing Authentication Token"); the local
    # HTTP gateway as 404 (test_local_stack.test_unknown_route_and_method).
    status, body = call(api, "drop", {}, internal_key)
    assert status == 403 and body["code"] == 40300


def _task(api, key, station="s001"):
    _, body = call(api, "add", {"station_id": station, "name": "worker_job", "type": 1}, key)
    return body["data"]["task_id"]


# -- a result names only objects under the task's own prefix, and has a size limit ----------
@pytest.mark.parametrize("field", ["file_key", "error_report_key"])
@pytest.mark.parametrize("key", ["exports/s002/7/orders.csv", "reports/s002/1/errors-run1.csv",
                                 "secrets/prod.env", "exports/s001/999/x.csv",
                                 "exports/s001/{id}/../../s002/7/orders.csv", "", 42])
def test_internal_result_cannot_name_an_object_outside_the_task(api, internal_key, field, key):
    task_id = _task(api, internal_key)
    key = key.replace("{id}", str(task_id)) if isinstance(key, str) else key
    status, body = call(api, "finish", {"station_id": "s001", "task_id": task_id,
                                        "result": {field: key}}, internal_key)
    assert status == 400 and body["code"] == 40001, body
    assert raw_row(task_id).status == TaskStatus.SUBMITTED      # nothing written


def test_internal_result_with_its_own_key_is_signed(api, internal_key):
    task_id = _task(api, internal_key)
    own = f"exports/s001/{task_id}/orders.csv"
    call(api, "start", {"station_id": "s001", "task_id": task_id}, internal_key)
    status, body = call(api, "finish", {"station_id": "s001", "task_id": task_id,
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
        status, body = call(api, action, {"station_id": "s001", "task_id": task_id,
                                          "result": big}, internal_key)
        assert status == 413 and body["code"] == 41300, body
    assert raw_row(task_id).result is None
