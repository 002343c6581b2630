"""The callback POST: one attempt, to an address checked before connecting.

The host name is resolved here once; the caller judges every address of the answer
(domain/callbacks.first_refusal), and the connection goes to the address that was
judged, never to a second resolution (a DNS-rebinding answer cannot slip in between).
TLS still verifies the certificate against the host name (SNI and hostname check), so
pinning the address weakens nothing. Redirects are not followed (a 3xx is a failed
attempt: following one would leave the allow-list), the response body is read up to
1 KiB, and one deadline covers connect, send and the answer.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.domain.callbacks import CallbackTarget

Resolver = Callable[[str, int], list[str]]
MAX_ANSWER_BYTES = 1024


def resolve(host: str, port: int) -> list[str]:
    """Every address of `host` (an IP literal resolves to itself), IPv4 and IPv6."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class Answer:
    status: int | None          # None: no HTTP answer (timeout, refused, TLS, ...)
    error: str | None           # None when 2xx

    @property
    def ok(self) -> bool:
        return self.error is None


def post(target: CallbackTarget, address: str, body: bytes, headers: dict[str, str], *,
         timeout_s: float, ca_file: str = "") -> Answer:
    import urllib3      # on first use: a cold API call that sends no callback skips it
    default_port = 443 if target.scheme == "https" else 80
    name = f"[{target.host}]" if ":" in target.host else target.host
    host_header = name if target.port == default_port else f"{name}:{target.port}"
    timeout = urllib3.Timeout(total=timeout_s)
    if target.scheme == "https":
        pool: Any = urllib3.HTTPSConnectionPool(
            address, target.port, timeout=timeout, retries=False, maxsize=1,
            cert_reqs="CERT_REQUIRED", ca_certs=ca_file or None,
            server_hostname=target.host, assert_hostname=target.host)
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout,
                                          retries=False, maxsize=1)
    try:
        resp = pool.urlopen("POST", target.path, body=body, redirect=False,
                            preload_content=False, assert_same_host=False,
                            headers={**headers, "Host": host_header})
        try:
            answer = resp.read(MAX_ANSWER_BYTES)
        finally:
            resp.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:    # (a ConnectTimeoutError too)
        return Answer(None, f"connection: {_short(exc)}")
    except urllib3.exceptions.TimeoutError:
        return Answer(None, f"timeout after {timeout_s:g} s")
    except urllib3.exceptions.SSLError as exc:
        return Answer(None, f"TLS: {_short(exc)}")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Answer(None, f"connection: {_short(exc)}")
    finally:
        pool.close()
    if 200 <= resp.status < 300:
        return Answer(resp.status, None)
    text = answer.decode("utf-8", "replace").strip()
    return Answer(resp.status, f"HTTP {resp.status}" + (f": {text[:200]}" if text else ""))


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
