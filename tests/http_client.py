"""An in-process HTTP client for the Chalice app: requests go through chalice.local's
LocalGateway (routing, built-in authorizer, event shape) exactly as the local runtime
serves them, without a socket."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from infra.local.gateway import gateway_error, gateway_failure


class GatewayClient:
    def __init__(self, app: Any):
        self.gateway = LocalGateway(app, Config(chalice_stage="test"))

    def request(self, method: str, path: str, *, params: dict | None = None,
                body: bytes | None = None, token: str | None = None, raw_auth: bool = False,
                headers: dict | None = None) -> tuple[int, Any]:
        hdrs = {"content-type": "application/json", "host": "localhost"}
        if token is not None:
            hdrs["authorization"] = token if raw_auth else f"Bearer {token}"
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        if params:
            path = f"{path}?{urlencode(params)}"
        try:
            resp = self.gateway.handle_request(method, path, hdrs, body or b"")
            status, raw = resp["statusCode"], resp["body"]
        except LocalGatewayException as exc:
            status, raw = gateway_error(exc)
        except Exception as exc:      # the authorizer raised (see infra/local/gateway.py)
            status, raw = gateway_failure(exc)
        if isinstance(raw, bytes):
            raw = raw.decode()
        return status, json.loads(raw) if raw else None

    def get(self, path: str, params: dict | None = None, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, payload: Any, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, body=json.dumps(payload).encode(), **kw)

    def post_raw(self, path: str, raw: bytes, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, body=raw, **kw)
