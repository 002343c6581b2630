"""The response envelope and the one mapping from errors to `{code, msg}`.

Every route returns `{"code": 0, "msg": "", "data": ...}` on success. Errors of the
platform's hierarchy become their status and code, with a `msg` in Chinese and the English
in parentheses (chalicelib/texts.py); a refused request lists every problem in
`data.errors` (`[{"field": "order_data[3].lines[0].sku", "reason": ...}]`). Anything else
is logged with its stack trace and answered as a plain 500 that names the request id,
never the trace; a 5xx says only what its code means.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable

from chalice import Response
from pydantic import BaseModel, ValidationError

from chalicelib import texts
from chalicelib.errors import (InvalidInput, MalformedBody, PlatformError,
                               UnsupportedMediaType)
from chalicelib.observability import logger

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def envelope(data: Any = None, *, code: int = 0, msg: str = "", status: int = 200) -> Response:
    body = json.dumps({"code": code, "msg": msg, "data": data}, ensure_ascii=False,
                      default=str, separators=(",", ":"))
    # a copy: middlewares add headers to the response (X-Correlation-Id, Vary)
    return Response(body=body, status_code=status, headers={**JSON_HEADERS})


def error_data(exc: PlatformError) -> Any:
    """`data` of an error answer: the problems of a refused request, else null."""
    problems = getattr(exc, "problems", ())
    return {"errors": [p.as_dict() for p in problems]} if problems else None


def error_response(exc: PlatformError) -> Response:
    msg = (texts.code_text(exc.code) if exc.http_status >= 500
           else texts.chinese_first(exc.msg, exc.code))
    return envelope(error_data(exc), code=exc.code, msg=msg, status=exc.http_status)


def native_errors_as_envelope(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """HTTP middleware: the answers Chalice makes by itself before a view runs (a
    Content-Type the route does not take, a method it does not have) become the platform's
    `{code, msg}` with the same status and headers, like every other refusal."""
    response = get_response(event)
    native = response.body
    if not (isinstance(native, dict) and set(native) == {"Code", "Message"}):
        return response
    status = response.status_code
    code = UnsupportedMediaType.code if status == 415 else status * 100
    body = envelope(None, code=code, msg=texts.chinese_first(str(native["Message"]), code),
                    status=status)
    body.headers = {**response.headers, **body.headers}
    return body


def endpoint(view: Callable[..., Any]) -> Callable[..., Response]:
    """Wrap a view: its return value is `data`; its errors become `{code, msg}`."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            result = view(*args, **kwargs)
            return result if isinstance(result, Response) else envelope(result)
        except PlatformError as exc:
            if exc.http_status >= 500 and not getattr(exc, "logged", False):
                logger.exception("request failed", extra={"code": exc.code})
            return error_response(exc)
        except Exception:  # the boundary: log it all, tell the client little
            logger.exception("unhandled error")
            return envelope(None, code=50000, status=500, msg=texts.INTERNAL_ERROR())
    return wrapper


MAX_JSON_DEPTH = 64          # far beyond any body the API takes (an order import is 4 deep)
# A code point no UTF-8 text can carry: what is left of "\ud800" once JSON has joined pairs.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def check_document(doc: Any, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Refuse (InvalidInput) nesting deeper than max_depth and text that is not valid
    Unicode (a lone surrogate cannot be stored, logged or sent as UTF-8). Iterative, so
    no input can exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                raise InvalidInput(texts.LONE_SURROGATE())
        elif isinstance(value, (dict, list)) or hasattr(value, "items"):
            if depth > max_depth:
                raise MalformedBody(texts.TOO_DEEP(depth=max_depth))
            items = value.items() if hasattr(value, "items") else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and _LONE_SURROGATE.search(key):
                    raise InvalidInput(texts.BAD_FIELD_NAME())
                if isinstance(item, (str, dict, list)):
                    stack.append((item, depth + 1))
    return doc


def parse_model(model: type[BaseModel], data: Any) -> Any:
    if not isinstance(data, (dict, list)):     # query parameters (JSON bodies are checked)
        check_document(data)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = texts.problems_of(err)
        raise InvalidInput(texts.summary(problems), problems=problems) from None


def json_body(raw: bytes | str | None) -> Any:
    """The request body as JSON; an empty body is an empty object."""
    if raw in (None, b"", ""):
        return {}
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise MalformedBody(texts.TOO_DEEP(depth=MAX_JSON_DEPTH)) from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody(texts.NOT_JSON()) from None
    return check_document(doc)
