"""The deployed API through LocalStack's API Gateway: the authorizer Lambda, the API Lambda,
the gateway responses (`make deploy` puts them), all from the URL the deploy printed."""
from __future__ import annotations

import pytest

from tests.deployed.conftest import call


def test_a_valid_token_reaches_the_api_lambda_with_its_station(deployed, station_token):
    status, body, _ = call(f"{deployed['api_url']}/task/list", station_token)
    assert status == 200, body
    assert body["code"] == 0 and "tasks" in body["data"]


@pytest.mark.parametrize("token, status, code", [
    (None, 401, 40100),             # no Authorization header: API Gateway's UNAUTHORIZED
    # Not a token of ours: the authorizer raises Unauthorized, which API Gateway answers
    # with UNAUTHORIZED too.
    ("forged." + "x" * 40, 401, 40100),
])
def test_bad_credentials_get_the_envelope_not_api_gateways_body(deployed, token, status, code):
    got, body, headers = call(f"{deployed['api_url']}/task/list", token)
    assert got == status, body
    assert body["code"] == code and body["msg"] and body["data"] is None, body
    assert headers.get("Content-Type", "").startswith("application/json")


def test_a_token_signed_with_another_key_is_refused(deployed):
    from chalicelib.api.auth import issue_token
    forged = issue_token("s001", "another-secret-0123456789abcdef0123456789")
    got, body, _ = call(f"{deployed['api_url']}/task/list", forged)
    assert (got, body["code"], body["data"]) == (401, 40100, None), body


def test_an_unknown_route_gets_the_envelope(deployed, station_token):
    got, body, _ = call(f"{deployed['api_url']}/no/such/route", station_token)
    assert got in (403, 404), body
    assert set(body) == {"code", "msg", "data"}, body
