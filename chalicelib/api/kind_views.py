"""The route of every registered task kind (chalicelib/kinds): one view per kind.

The view validates the kind's request model (the query string for GET, else the JSON
body), takes the station from the token, and hands both to the kind's handler.
"""
from __future__ import annotations

from typing import Any, Callable

from chalicelib.api.auth import station_of
from chalicelib.api.http import endpoint, json_body, parse_model
from chalicelib.kinds.base import TaskKind


def kind_view(kind: TaskKind, current_request: Callable[[], Any],
              services: Callable[[], Any]) -> Callable[[], Any]:
    """A Chalice view for `kind`, named kind.view_name."""
    def view() -> Any:
        request = current_request()
        data = (request.query_params or {}) if kind.in_query else json_body(request.raw_body)
        req, svc = parse_model(kind.request_model, data), services()
        if getattr(req, "callback_url", None):      # every kind takes one (docs/notifications.md)
            svc.callbacks.check(req.callback_url)
        return kind.handle(svc, station_of(request), req)
    view.__name__ = view.__qualname__ = kind.view_name
    return endpoint(view)
