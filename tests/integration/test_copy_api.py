"""POST /station/product/copy_task over HTTP: success and every kind of bad input."""
import pytest

from chalicelib import texts
from tests.refusals import assert_refused
from tests.integration.engine_helpers import count, queue_bodies, seed_shops
from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus


def body(shops, **kw):
    base = {"source_shop_id": shops["source"], "target_shop_id": shops["target"],
            "product_ids": shops["product_ids"][:3]}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def test_create_answers_with_task_url(api, station_token):
    shops = seed_shops(5)
    status, resp = api.post("/station/product/copy_task", body(shops, user_task_id="c1"),
                            token=station_token)
    assert status == 200 and resp["code"] == 0
    data = resp["data"]
    assert data["task_url"] == f"/task/get?task_id={data['task_id']}" and data["created"]
    assert data["task"]["status"] == TaskStatus.SUBMITTED and data["task"]["counts"]["total"] == 3
    status, got = api.get("/task/get", {"task_id": data["task_id"]}, token=station_token)
    assert got["data"]["task_name"] == "product_copy"
    # repeat=0 (the default): the same user_task_id while unfinished returns the same task
    status, again = api.post("/station/product/copy_task", body(shops, user_task_id="c1"),
                             token=station_token)
    assert again["data"]["task_id"] == data["task_id"] and again["data"]["created"] is False
    assert len(queue_bodies(services())) == 1


def test_create_from_a_filter(api, station_token):
    shops = seed_shops(20)
    status, resp = api.post("/station/product/copy_task",
                            body(shops, product_ids=None, filter={"category": "水果"}),
                            token=station_token)
    assert status == 200 and resp["data"]["task"]["counts"]["total"] == 4


@pytest.mark.parametrize("change,status_code,code,expected", [
    # a 404 says which (its msg), a refused request lists each problem's field
    ({"source_shop_id": 10 ** 9}, 404, 40400,
     texts.SHOP_NOT_FOUND(field="source_shop_id", shop_id=10 ** 9)),
    ({"target_shop_id": 10 ** 9}, 404, 40400,
     texts.SHOP_NOT_FOUND(field="target_shop_id", shop_id=10 ** 9)),
    ({"product_ids": []}, 400, 40001, ["product_ids"]),
    ({"product_ids": [1, 2, 2]}, 400, 40001, ["product_ids"]),
    ({"product_ids": [1, "2"]}, 400, 40001, ["product_ids[1]"]),
    ({"product_ids": [1, 2.5]}, 400, 40001, ["product_ids[1]"]),
    ({"product_ids": [-1]}, 400, 40001, ["product_ids[0]"]),
    ({"product_ids": None}, 400, 40001, [""]),
    ({"filter": {"category": "水果"}}, 400, 40001, [""]),
    ({"product_ids": None, "filter": {"category": "none-such"}}, 404, 40400,
     texts.FILTER_MATCHES_NOTHING()),
    ({"source_shop_id": "abc"}, 400, 40001, ["source_shop_id"]),
    ({"repeat": "maybe"}, 400, 40001, ["repeat"]),
    ({"source_shop_id": "abc", "product_ids": [1, 0], "filter": {"category": 5},
      "user_task_id": ""}, 400, 40001,
     ["source_shop_id", "product_ids[1]", "filter.category", "user_task_id"]),
])
def test_bad_input_writes_and_enqueues_nothing(api, station_token, change, status_code, code,
                                               expected):
    shops = seed_shops(5)
    status, resp = api.post("/station/product/copy_task", body(shops, **change),
                            token=station_token)
    assert status == status_code
    if isinstance(expected, list):
        assert_refused(resp, code, *expected)
    else:
        assert_refused(resp, code)
        assert resp["msg"] == expected
    assert count("tbl_async_task") == 0 and count("tbl_task_chunk") == 0
    assert queue_bodies(services()) == []


def test_same_source_and_target(api, station_token):
    shops = seed_shops(2)
    status, resp = api.post("/station/product/copy_task",
                            body(shops, target_shop_id=shops["source"]), token=station_token)
    assert status == 400
    assert_refused(resp, 40001, "target_shop_id")
    assert resp["data"]["errors"][0]["reason"] == texts.SHOPS_MUST_DIFFER()
    assert count("tbl_async_task") == 0


def test_shop_of_another_station_is_not_found(api, station_token):
    shops = seed_shops(2)
    status, resp = api.post("/station/product/copy_task",
                            body(shops, target_shop_id=shops["foreign"]), token=station_token)
    assert status == 404 and resp["msg"] == texts.SHOP_NOT_FOUND(field="target_shop_id",
                                                                 shop_id=shops["foreign"])
    assert count("tbl_async_task") == 0 and queue_bodies(services()) == []


def test_oversized_id_list(api, station_token):
    shops = seed_shops(2)
    ids = list(range(1, 100_002))
    status, resp = api.post("/station/product/copy_task", body(shops, product_ids=ids),
                            token=station_token)
    assert status == 413
    assert_refused(resp, 41300, "product_ids")
    assert resp["data"]["errors"][0]["reason"] == texts.TOO_MANY_PRODUCTS(limit=100_000,
                                                                           count=100_001)
    assert count("tbl_async_task") == 0
