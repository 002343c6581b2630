"""The platform's rooted error hierarchy.

A class says what a caller can do about the error; the API maps each class to an HTTP
status and a stable `code` (documented in docs/errors.md), the engine maps them to
retry-or-give-up. Messages are written for a person and never carry internals: each raise
site takes its text from chalicelib/texts.py (Chinese, then the English in parentheses).
"""
from __future__ import annotations

from typing import Sequence

from chalicelib.texts import Problem


class PlatformError(Exception):
    http_status = 500
    code = 50000

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


class InvalidInput(PlatformError):
    """The request is wrong; fix it and send again. `problems` are what the answer lists in
    `data.errors` (every problem of the request, each with its field path); a refusal
    about one field gives `field` and is that field's one problem."""
    http_status, code = 400, 40001

    def __init__(self, msg: str, *, field: str = "", problems: Sequence[Problem] = ()):
        if field and not problems:
            problems = (Problem(field, msg),)
            msg = str(problems[0])
        super().__init__(msg)
        self.problems: tuple[Problem, ...] = tuple(problems)


class MalformedBody(InvalidInput):
    code = 40002


class Unauthenticated(PlatformError):
    http_status, code = 401, 40100


class Forbidden(PlatformError):
    http_status, code = 403, 40300


class NotFound(PlatformError):
    """No such thing for this station (another station's task is 'not found' too)."""
    http_status, code = 404, 40400


class Conflict(PlatformError):
    """The thing exists but is in a state that forbids the operation."""
    http_status, code = 409, 40900


class DuplicateKey(Conflict):
    """A unique key refused the write (adapters translate the driver's IntegrityError)."""


class TooLarge(InvalidInput):
    http_status, code = 413, 41300


class CallbackRefused(InvalidInput):
    """A callback_url the stage does not accept (chalicelib/domain/callbacks.py); the
    request creates nothing."""


class CallbackNotHttps(CallbackRefused):
    """Not an https URL (http only in local and test runs), or one with credentials or a
    fragment."""
    code = 40010


class CallbackHostNotAllowed(CallbackRefused):
    """The host is not on the stage's allow-list (CALLBACK_HOSTS)."""
    code = 40011


class CallbackAddressRefused(CallbackRefused):
    """The host is, or resolves to, an address that is not public (private, loopback,
    link-local, reserved), or does not resolve."""
    code = 40012


class UnsupportedMediaType(InvalidInput):
    """The body is not JSON (`Content-Type` other than application/json)."""
    http_status, code = 415, 41500


class Unavailable(PlatformError):
    """A dependency is down; the same request may succeed later."""
    http_status, code = 503, 50300


class DatabaseUnavailable(Unavailable):
    """The database could not be reached, or went away, for longer than the retry window
    (adapters/db.py translates the driver's connection errors into this)."""


class QueueUnavailable(Unavailable):
    """SQS refused (some of) a batch of messages (adapters/aws.py)."""
