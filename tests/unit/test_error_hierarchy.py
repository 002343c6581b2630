"""Worker-side errors sit in the rooted hierarchy; adapters translate driver errors."""
from __future__ import annotations

import socket

import pytest

from chalicelib.adapters.db import Database
from chalicelib.adapters.product_center import (DownstreamUnavailable, PermanentItemError,
                                                ProductCenterError)
from chalicelib.errors import (Conflict, DatabaseUnavailable, DuplicateKey, InvalidInput,
                               PlatformError, QueueUnavailable, Unavailable)
from chalicelib.service.messages import MalformedMessage
from chalicelib.service.lease import DeadlineReached, LeaseLost, TaskCancelled
from chalicelib.service.lifecycle import StaleTask


@pytest.mark.parametrize("cls,kind", [
    (ProductCenterError, PlatformError), (PermanentItemError, ProductCenterError),
    (DownstreamUnavailable, Unavailable), (DownstreamUnavailable, ProductCenterError),
    (MalformedMessage, InvalidInput), (LeaseLost, Conflict), (DeadlineReached, PlatformError),
    (TaskCancelled, PlatformError),
    (QueueUnavailable, Unavailable), (DatabaseUnavailable, Unavailable),
    (DuplicateKey, Conflict), (StaleTask, Conflict)])
def test_each_error_has_its_place(cls, kind):
    assert issubclass(cls, kind)


def test_a_downstream_outage_maps_like_any_unavailable_dependency():
    exc = DownstreamUnavailable("HTTP 503 after 3 attempts")
    assert (exc.http_status, exc.code, exc.msg, exc.reason) == (
        503, 50300, "HTTP 503 after 3 attempts", "HTTP 503 after 3 attempts")


def test_an_unreachable_database_is_database_unavailable():
    with socket.socket() as s:           # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = Database(f"mysql://root@127.0.0.1:{port}/nothing", connect_timeout=1, retry_for_s=0.2)
    with pytest.raises(DatabaseUnavailable) as err:
        db.run(lambda cur: cur.execute("SELECT 1"))
    assert err.value.http_status == 503 and err.value.__cause__ is not None
