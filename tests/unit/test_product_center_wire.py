"""The product center client's wire shortcuts give what the plain JSON path gives: a chunk's
bodies (create_body) are the bytes json.dumps gives, and the success answer read by
one match (_CREATED) yields the id json.loads would, or falls back to it."""
from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.http_pool import Answer
from chalicelib.adapters.product_center import (CreateProduct, PermanentItemError,
                                                ProductCenterClient, create_body)

ints = st.integers(min_value=-2**63, max_value=2**63)


def _dumps(shop, source, name, price) -> bytes:
    return json.dumps({"shop_id": shop, "source_product_id": source, "name": name,
                       "price_cents": price}, separators=(",", ":"), ensure_ascii=False).encode()


@given(shop=ints, source=ints, name=st.text(), price=ints)
def test_chunk_bodies_are_create_product_bodies(shop, source, name, price):
    body = create_body(shop, source, name, price)
    assert body == CreateProduct(shop, source, name, price).body() == _dumps(shop, source, name,
                                                                             price)
    assert json.loads(body) == {"shop_id": shop, "source_product_id": source, "name": name,
                                "price_cents": price}


def test_chunk_bodies_of_non_int_fields_fall_back_to_json():
    assert create_body(1, 2, "n", True) == _dumps(1, 2, "n", True)
    assert create_body("1", 2, "n", 3) == _dumps("1", 2, "n", 3)


class _Answers:
    """A pool stub: answers every POST with the given status and body."""

    def __init__(self, status: int, data: bytes):
        self.answer = Answer(status, {}, data)

    def post(self, path, body, headers):
        return self.answer


def _client(status: int, data: bytes) -> ProductCenterClient:
    client = ProductCenterClient("http://127.0.0.1:9", max_attempts=1)
    client._pool = _Answers(status, data)
    return client


ws = st.sampled_from(["", " ", "\n", "\t", "\r\n  "])


@given(product_id=ints, gaps=st.lists(ws, min_size=14, max_size=14))
def test_success_answers_in_any_whitespace_give_the_id(product_id, gaps):
    g = iter(gaps)
    text = (f'{{{next(g)}"code"{next(g)}:{next(g)}0{next(g)},{next(g)}"msg":{next(g)}""'
            f'{next(g)},{next(g)}"data"{next(g)}:{next(g)}{{"product_id":{next(g)}'
            f'{product_id}{next(g)}}}{next(g)}}}{next(g)}')
    assert json.loads(text)["data"]["product_id"] == product_id
    assert _client(200, text.encode()).create(b"{}", "k-1") == product_id


def test_answers_outside_the_usual_shape_go_through_json():
    reordered = b'{"data": {"product_id": 7}, "msg": "", "code": 0}'
    assert _client(200, reordered).create(b"{}", "k-1") == 7
    refused = b'{"code": 3, "msg": "", "data": {"product_id": 7}}'
    try:
        _client(200, refused).create(b"{}", "k-1")
    except PermanentItemError as exc:
        assert exc.code == 3
    else:
        raise AssertionError("a nonzero code is a refusal")
