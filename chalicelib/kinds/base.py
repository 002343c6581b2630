"""What a task kind declares: its name, request model, route, service and processor.

The composition root (bootstrap) builds each kind's service and engine processor from
this declaration, app.py serves its route and the OpenAPI builder describes it. Every
kind's work runs on the engine, so its messages, leases and repairs are the engine's. A kind
is one module in chalicelib/kinds/ plus one line in chalicelib/kinds/__init__.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from pydantic import BaseModel

if TYPE_CHECKING:       # bootstrap imports the registry
    from chalicelib.bootstrap import Services

# Every kind's request takes a callback_url (docs/notifications.md); refusals: not https,
# host not on the stage's allow-list, an address that is not public (docs/errors.md).
CALLBACK_ERRORS = (40010, 40011, 40012)

# (services, caller's station, validated request model) -> the response's `data`
RouteHandler = Callable[["Services", str, Any], Any]


@dataclass(frozen=True)
class TaskKind:
    name: str                           # tbl_async_task.name; the engine's processor key
    request_model: type[BaseModel]      # the route's query (GET) or JSON body, validated
    method: str
    path: str
    view_name: str                      # the Chalice view's name (stable across deploys)
    handle: RouteHandler
    summary: str                        # OpenAPI summary of the route
    errors: tuple[int, ...]             # codes beyond the ones every route has (OpenAPI)
    service: Callable[["Services"], Any]                    # built once per process
    # its engine processor (service/processors.py: an ItemProcessor, a BatchProcessor or
    # a StreamProcessor); None for a kind whose tasks have no work of their own
    processor: Optional[Callable[["Services"], Any]] = None

    @property
    def in_query(self) -> bool:
        return self.method == "GET"
