"""The local API Gateway: the routes' HTTP server, and what API Gateway answers by
itself (refused credentials, unknown routes, a failing authorizer) as the platform's
`{code, msg}` bodies, with the stage's CORS grant.

Production maps the same gateway responses (infra/gateway_responses.py, put by
`make deploy`) to these bodies, so a client sees one error format whichever layer refused it.
"""
from __future__ import annotations

import json

import logging
import traceback
from http.server import ThreadingHTTPServer
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (ChaliceRequestHandler, ForbiddenError, LocalChalice,
                           LocalGatewayException, NotAuthorizedError, RouteMatcher)

from chalicelib import texts
from infra.gateway_responses import LOCAL_STATUS_RESPONSE, body, cors_headers

log = logging.getLogger("local-runtime")

BODIES = {
    405: (40500, texts.CODES[40500].text),
    500: (50000, texts.INTERNAL_RETRY()),
}


def error_body(status: int) -> bytes:
    if status in LOCAL_STATUS_RESPONSE:
        return json.dumps(body(LOCAL_STATUS_RESPONSE[status]), ensure_ascii=False).encode()
    code, msg = BODIES.get(status, (status * 100, texts.code_text(status * 100)))
    return json.dumps({"code": code, "msg": msg, "data": None}, ensure_ascii=False).encode()


def gateway_error(exc: LocalGatewayException) -> tuple[int, bytes]:
    """Status and body for an authorizer refusal raised by chalice's LocalGateway."""
    status = exc.CODE
    # LocalGateway also raises ForbiddenError for unknown routes (as API Gateway does with
    # 403 "Missing Authentication Token"); the server answers those 404 before asking it.
    if isinstance(exc, (ForbiddenError, NotAuthorizedError)):
        return status, error_body(status)
    return 503, error_body(503)          # the authorizer returned nothing: AUTHORIZER_FAILURE


def gateway_failure(exc: Exception) -> tuple[int, bytes]:
    """What API Gateway answers when the authorizer raised instead of answering: 401 for
    "Unauthorized" (a bad credential), else AUTHORIZER_FAILURE's 503; any other escape
    (a middleware) is the integration's 5xx (DEFAULT_5XX)."""
    if str(exc) == "Unauthorized":
        return 401, error_body(401)
    if any(frame.name == "authorize" and frame.filename.endswith("chalice/local.py")
           for frame in traceback.extract_tb(exc.__traceback__)):
        return 503, error_body(503)
    return 500, error_body(500)


def app_cors_headers(app: Chalice) -> dict[str, str]:
    """The CORS grant the app's routes carry (app.api.cors), for the gateway's own answers."""
    cors = getattr(app.api, "cors", None)
    return cors_headers(getattr(cors, "allow_origin", "") if cors else "")


class GatewayRequestHandler(ChaliceRequestHandler):
    """chalice local's request handler (same event building, same LocalGateway), except
    that what API Gateway answers by itself (authorizer refusals, unknown routes, wrong
    methods) gets the platform's {code, msg} bodies from infra/local/gateway.py, which
    production's gateway responses mirror."""

    def _generic_handle(self) -> None:
        server: GatewayServer = self.server   # type: ignore[assignment]
        try:
            route = server.route_matcher.match_route(self.path).route
        except ValueError:
            self._drain_body()
            return self._send_json(404, error_body(404))
        methods = server.app.routes[route]
        if self.command not in methods and self.command != "OPTIONS":
            self._drain_body()
            return self._send_json(405, error_body(405),
                                   extra={"Allow": ", ".join(sorted(methods))})
        try:
            super()._generic_handle()
        except Exception as exc:   # the authorizer or a middleware raised
            status, failure = gateway_failure(exc)
            if status == 500:          # 401 and 503 are answers; their cause is logged once
                log.error("request %s %s failed:\n%s", self.command, self.path,
                          traceback.format_exc())
            self._send_json(status, failure)

    # the base class binds do_* to its own _generic_handle; rebind them to ours
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, CONNECT, PROPFIND, ...) is ours too, so a route answers
        405 with Allow as API Gateway does, not http.server's 501 HTML page."""
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        """401 NotAuthorizedError (no credential), 403 ForbiddenError (the authorizer
        denied), 500 InvalidAuthorizerError (it returned nothing)."""
        status, body = gateway_error(error)
        self._send_json(status, body, extra=dict(error.headers))

    def _send_json(self, status: int, body: bytes,
                   extra: dict[str, str] | None = None) -> None:
        server: GatewayServer = self.server   # type: ignore[assignment]
        headers = {**(extra or {}), **app_cors_headers(server.app),
                   "Content-Type": "application/json"}
        self._send_http_response(status, headers, body)

    def _drain_body(self) -> None:
        length = int(self.headers.get("content-length", "0") or 0)
        if length > 0:
            self.rfile.read(length)

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 (stdlib name)
        if getattr(self.server, "access_log", True):
            super().log_message(format, *args)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: Chalice, config: Config,
                 access_log: bool) -> None:
        self.app, self.config, self.access_log = app, config, access_log
        self.route_matcher = RouteMatcher(list(app.routes))
        super().__init__(address, self._make_handler)

    def _make_handler(self, request, client_address, server):
        return GatewayRequestHandler(request, client_address, server,
                                      app_object=self.app, config=self.config)


def use_thread_local_requests(app: Chalice) -> None:
    """Give the app a per-thread `current_request`, as chalice local does, so concurrent
    requests on the threaded server cannot see each other's request."""
    if not isinstance(app, LocalChalice):
        app.__class__ = type(f"Local{type(app).__name__}", (LocalChalice, type(app)), {})
