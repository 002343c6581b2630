"""A fuzzer of our own for what schemathesis does not send: bodies
nested far deeper than any parser's stack, and text with lone UTF-16 surrogates (in values,
in keys, escaped in JSON or as the invalid UTF-8 bytes of one), into every operation that
takes a JSON body or query parameters. Served over HTTP by LocalRuntime, as in
test_fuzz_api.py: never a 5xx, every error a `{code, msg}` body."""
from __future__ import annotations

import json
import urllib.parse
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.api.openapi import build_spec
from tests.integration.conftest import check_error_body as _check

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
HOSTILE_TEXT = st.lists(st.one_of(SURROGATES, st.characters(max_codepoint=0x1F600)),
                        min_size=1, max_size=8).map("".join)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), HOSTILE_TEXT)
JSON_DOC = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(HOSTILE_TEXT, inner, max_size=4)),
    max_leaves=12)


def _operations() -> tuple[list[str], list[tuple[str, list[str]]]]:
    spec = build_spec()
    posts, gets = [], []
    for path, ops in spec["paths"].items():
        if "{" in path:
            continue
        for method, op in ops.items():
            if method == "post" and "requestBody" in op:
                posts.append(path)
            if method == "get" and op.get("parameters"):
                gets.append((path, [p["name"] for p in op["parameters"] if p["in"] == "query"]))
    return posts, gets


POSTS, GETS = _operations()
BASE = {"station_id": "s001", "name": "x", "type": 1, "task_ids": [1], "task_id": 1,
        "source_shop_id": 1, "target_shop_id": 2, "product_ids": [1], "order_data": [{}],
        "time_config_id": "t", "file_name": "f.xlsx"}


def _nest(value: Any, depth: int) -> str:
    return "[" * depth + json.dumps(value) + "]" * depth


@st.composite
def hostile_body(draw) -> bytes:
    kind = draw(st.sampled_from(["deep", "deep_object", "surrogate_field", "surrogate_doc",
                                 "invalid_utf8"]))
    field = draw(st.sampled_from(sorted(BASE)))
    base = {k: v for k, v in BASE.items()}
    if kind == "deep":
        depth = draw(st.sampled_from([65, 100, 1000, 50_000, 200_000]))
        text = json.dumps({k: v for k, v in base.items() if k != field})
        return (text[:-1] + f', "{field}": ' + _nest(draw(JSON_LEAF), depth) + "}").encode()
    if kind == "deep_object":
        depth = draw(st.sampled_from([65, 3000, 100_000]))
        return ('{"a":' * depth + "1" + "}" * depth).encode()
    if kind == "surrogate_field":
        base[field] = draw(HOSTILE_TEXT.filter(lambda t: any(0xD800 <= ord(c) <= 0xDFFF
                                                             for c in t)))
        return json.dumps(base).encode()
    if kind == "surrogate_doc":
        base[field] = draw(JSON_DOC)
        return json.dumps(base).encode()
    return json.dumps(base).encode().replace(b'"x"', b'"\xed\xa0\x80"')   # CESU surrogate


def test_fuzz_deep_nesting_and_surrogates(running_api: str, station_token: str,
                                          internal_key: str):
    headers = {"Authorization": f"Bearer {station_token}", "X-Auth-Key": internal_key,
               "Content-Type": "application/json"}
    session = requests.Session()
    sent = []

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(POSTS), body=hostile_body())
    def post(path: str, body: bytes) -> None:
        r = session.post(running_api + path, data=body, headers=headers, timeout=30)
        sent.append(r.status_code)
        _check(r, f"POST {path} {body[:80]!r}")

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(op=st.sampled_from(GETS), text=HOSTILE_TEXT, raw=st.booleans())
    def get(op: tuple[str, list[str]], text: str, raw: bool) -> None:
        path, names = op
        value = (urllib.parse.quote(text.encode("utf-8", "surrogatepass")) if raw
                 else urllib.parse.quote(text.encode("utf-8", "replace")))
        query = "&".join(f"{n}={value}" for n in names)
        r = session.get(f"{running_api}{path}?{query}", headers=headers, timeout=30)
        sent.append(r.status_code)
        _check(r, f"GET {path}?{query[:80]}")

    post()
    get()
    assert len(sent) >= 100 and all(s < 500 for s in sent)


def test_a_body_of_another_media_type_is_refused_in_the_envelope(api, station_token):
    # Chalice itself refuses a content type a route does not take (415); that answer must
    # be the platform's {code, msg}, as every other refusal is, and change nothing.
    for ctype in ("text/plain", "OJ4e", "application/x-www-form-urlencoded"):
        status, body = api.request("POST", "/task/clear_show", body=b'{"task_ids": [1]}',
                                   token=station_token, headers={"content-type": ctype})
        assert status == 415
        assert body["code"] == 41500 and body["data"] is None
        assert ctype in body["msg"]
