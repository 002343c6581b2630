"""Completion notifications, the pure rules: which callback URLs a stage accepts, which
addresses a callback may reach, how a delivery is signed, and when it is tried again.

No I/O here: service/notifications.py resolves names and sends; adapters/webhook.py
posts. Each refusal is a CallbackRefused subclass with its own code (docs/errors.md).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from chalicelib import texts
from chalicelib.errors import (CallbackAddressRefused, CallbackHostNotAllowed, CallbackNotHttps,
                               CallbackRefused)

__all__ = ["CallbackAddressRefused", "CallbackHostNotAllowed", "CallbackNotHttps",
           "CallbackRefused"]

MAX_URL_LENGTH = 2048
SIGNATURE_HEADER = "X-Signature"        # t=<unix seconds>,v1=<hex HMAC-SHA256>
DELIVERY_HEADER = "X-Delivery-Id"       # the same for every attempt of one delivery
EVENT_HEADER = "X-Event-Type"
EVENT_TYPE = "task.finished"


@dataclass(frozen=True)
class AllowList:
    """CALLBACK_HOSTS: exact host names (or IP literals) and `*.suffix` wildcards, which
    match any name below the suffix but not the suffix itself."""
    exact: frozenset[str]
    suffixes: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str) -> "AllowList":
        exact, suffixes = set(), []
        for raw in spec.split(","):
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            if entry.startswith("*."):
                if len(entry) < 3 or "*" in entry[2:]:
                    raise ValueError(f"CALLBACK_HOSTS entry {raw.strip()!r} is not *.suffix")
                suffixes.append(entry[1:])          # ".example.com"
            elif "*" in entry or "/" in entry or ":" in entry.strip("[]") and not _is_ip(entry):
                raise ValueError(f"CALLBACK_HOSTS entry {raw.strip()!r} is not a host name")
            else:
                exact.add(entry.strip("[]"))
        return cls(frozenset(exact), tuple(suffixes))

    @property
    def empty(self) -> bool:
        return not self.exact and not self.suffixes

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.exact or any(host.endswith(s) and len(host) > len(s)
                                         for s in self.suffixes)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class CallbackTarget:
    url: str
    scheme: str
    host: str           # lower case, no brackets around an IPv6 literal
    port: int
    path: str           # path + query, as sent in the request line


def parse_callback(url: str, hosts: AllowList, *, allow_local: bool) -> CallbackTarget:
    """The target of a callback URL, or CallbackRefused: https only (http too when the
    run allows local callbacks), a host name, no credentials or fragment, the host on the
    allow-list, and an IP literal only if its address may be reached."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise CallbackNotHttps(texts.CALLBACK_TOO_LONG(limit=MAX_URL_LENGTH), field="callback_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise CallbackNotHttps(texts.CALLBACK_NOT_URL(), field="callback_url") from None
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme.lower() not in schemes:
        raise CallbackNotHttps(texts.CALLBACK_NOT_HTTPS(), field="callback_url")
    if any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7e for c in url):
        raise CallbackNotHttps(texts.CALLBACK_NOT_ASCII(), field="callback_url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise CallbackNotHttps(texts.CALLBACK_NO_HOST(), field="callback_url")
    if parts.username is not None or parts.password is not None:
        raise CallbackNotHttps(texts.CALLBACK_CREDENTIALS(), field="callback_url")
    if parts.fragment:
        raise CallbackNotHttps(texts.CALLBACK_FRAGMENT(), field="callback_url")
    if not hosts.allows(host):
        raise CallbackHostNotAllowed(texts.CALLBACK_HOST_NOT_ALLOWED(host=host), field="callback_url")
    if _is_ip(host):
        refusal = address_refusal(host, allow_local=allow_local)
        if refusal:
            raise CallbackAddressRefused(texts.CALLBACK_HOST_REFUSED(host=host, refusal=refusal),
                                         field="callback_url")
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(url=url, scheme=scheme, host=host,
                          port=port or (443 if scheme == "https" else 80), path=path)


def address_refusal(address: str, *, allow_local: bool) -> str | None:
    """Why a callback may not reach `address` ("a private address", ...), or None. Only
    public unicast addresses are reachable; loopback too when local callbacks are allowed
    (local and test runs). An IPv4-mapped IPv6 address is judged as its IPv4 address."""
    ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_local else "a loopback address"
    for flag, what in (("is_unspecified", "an unspecified address"),
                       ("is_link_local", "a link-local address"),
                       ("is_multicast", "a multicast address"),
                       ("is_reserved", "a reserved address"),
                       ("is_private", "a private address")):
        if getattr(ip, flag):
            return what
    if not ip.is_global:        # shared (100.64/10), documentation ranges, ...
        return "not a public address"
    return None


def first_refusal(addresses: Iterable[str], *, allow_local: bool) -> str | None:
    """The first address of a name's resolution that may not be reached, as text."""
    for address in addresses:
        why = address_refusal(address, allow_local=allow_local)
        if why:
            return f"{address} ({why})"
    return None


# -- signing ----------------------------------------------------------------------------------
def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` under the stage's NOTIFY_SECRET."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body,
                   hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (docs/notifications.md has the same in a snippet)."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), fields.get("v1", ""))


# -- the job's states and retry schedule -------------------------------------------------------
NONE, PENDING, DONE, GAVE_UP = 0, 1, 2, 3          # notify_state (webhook), event_state


def parse_delays(spec: str) -> tuple[int, ...]:
    """NOTIFY_RETRY_DELAYS_S: seconds to wait after attempt 1, 2, ...; attempts in all =
    len + 1. "60,300,600,900,1800" = 6 attempts over about an hour."""
    try:
        delays = tuple(int(p) for p in spec.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"NOTIFY_RETRY_DELAYS_S={spec!r} is not a list of seconds") from None
    if any(d < 0 or d > 86_400 for d in delays) or len(delays) > 20:
        raise ValueError(f"NOTIFY_RETRY_DELAYS_S={spec!r}: at most 20 delays of 0..86400 s")
    return delays


def retry_delay(seq: int, delays: tuple[int, ...]) -> int | None:
    """Seconds before run seq + 1 of a job whose run `seq` (1-based) left work pending;
    None when that was the last run."""
    return delays[seq - 1] if 1 <= seq <= len(delays) else None


CLAIM, SKIP = "claim", "skip"


def claim_decision(*, row_notify_id: str | None, row_seq: int, due_passed: bool,
                   pending: bool, msg_notify_id: str, msg_seq: int) -> str:
    """Whether a job message (notify_id, seq) may run now. Run seq follows run seq - 1;
    a run whose holder died (its lease, notify_due_at, passed) may be taken again; a
    message of another finish, of a finished job, or a duplicate is skipped."""
    if not pending or row_notify_id != msg_notify_id:
        return SKIP
    if row_seq == msg_seq - 1:
        return CLAIM
    if row_seq == msg_seq and due_passed:
        return CLAIM
    return SKIP
