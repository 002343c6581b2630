"""A task's callback_url checked at creation, before anything is stored.

The stage's rules (domain/callbacks.parse_callback): https (http only with
CALLBACK_ALLOW_LOCAL), a host on CALLBACK_HOSTS, and every address the name resolves to
public (loopback too with CALLBACK_ALLOW_LOCAL). The same checks run again when the POST
is sent (service/notifications.py), against DNS answers that change in between.
"""
from __future__ import annotations

from chalicelib import texts
from chalicelib.adapters import webhook
from chalicelib.config import Settings
from chalicelib.domain import callbacks as cb


class CallbackCheck:
    def __init__(self, settings: Settings, resolve: webhook.Resolver = webhook.resolve):
        self.hosts = cb.AllowList.parse(settings.callback_hosts)
        self.allow_local = settings.callback_allow_local
        self._resolve = resolve

    def check(self, url: str) -> str:
        """The URL as given, or a CallbackRefused (a 400 with its code)."""
        if self.hosts.empty:
            raise cb.CallbackHostNotAllowed(texts.CALLBACKS_OFF(), field="callback_url")
        target = cb.parse_callback(url, self.hosts, allow_local=self.allow_local)
        try:
            addresses = self._resolve(target.host, target.port)
        except (OSError, UnicodeError):
            raise cb.CallbackAddressRefused(texts.CALLBACK_NOT_RESOLVED(host=target.host),
                                            field="callback_url") from None
        refused = cb.first_refusal(addresses, allow_local=self.allow_local)
        if refused or not addresses:
            raise cb.CallbackAddressRefused(texts.CALLBACK_RESOLVES_PRIVATE(
                host=target.host, refused=refused or "no address"), field="callback_url")
        return url
