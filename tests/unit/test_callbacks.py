"""The pure rules of completion callbacks: URLs a stage takes, addresses a callback may
reach, the signature, the retry schedule and which run of a job may go."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.config import ConfigurationError, Settings
from chalicelib.domain import callbacks as cb

HOSTS = cb.AllowList.parse("hooks.example.com, *.partner.example.org ,203.0.113.7,127.0.0.1")


@pytest.mark.parametrize("host,allowed", [
    ("hooks.example.com", True), ("HOOKS.example.com.", True), ("a.partner.example.org", True),
    ("a.b.partner.example.org", True), ("partner.example.org", False),
    ("evilpartner.example.org", False), ("hooks.example.com.evil.net", False),
    ("example.com", False), ("127.0.0.1", True)])
def test_allow_list_takes_exact_hosts_and_suffix_wildcards(host, allowed):
    assert HOSTS.allows(host) is allowed


@pytest.mark.parametrize("spec", ["*", "*.", "a.*.example.com", "https://x.example.com",
                                  "x.example.com:8443"])
def test_a_malformed_allow_list_stops_the_start(spec):
    with pytest.raises(ConfigurationError, match="CALLBACK_HOSTS"):
        Settings(callback_hosts=spec)


@pytest.mark.parametrize("url,error", [
    ("http://hooks.example.com/x", cb.CallbackNotHttps),
    ("ftp://hooks.example.com/x", cb.CallbackNotHttps),
    ("https://user:pw@hooks.example.com/x", cb.CallbackNotHttps),
    ("https://hooks.example.com/x#frag", cb.CallbackNotHttps),
    ("https:///x", cb.CallbackNotHttps),
    ("https://hooks.example.com/a b", cb.CallbackNotHttps),
    ("https://hooks.example.com:99999/", cb.CallbackNotHttps),
    ("https://" + "a" * 2048 + ".example.com/", cb.CallbackNotHttps),
    ("https://other.example.com/x", cb.CallbackHostNotAllowed),
    ("https://partner.example.org/x", cb.CallbackHostNotAllowed),
    ("https://127.0.0.1/x", cb.CallbackAddressRefused),          # listed, but loopback
])
def test_deployed_stage_refuses(url, error):
    with pytest.raises(error) as err:
        cb.parse_callback(url, HOSTS, allow_local=False)
    assert err.value.http_status == 400 and err.value.code in (40010, 40011, 40012)


def test_local_runs_take_http_and_loopback_and_nothing_else():
    t = cb.parse_callback("http://127.0.0.1:8123/hook?x=1", HOSTS, allow_local=True)
    assert (t.scheme, t.host, t.port, t.path) == ("http", "127.0.0.1", 8123, "/hook?x=1")
    with pytest.raises(cb.CallbackHostNotAllowed):
        cb.parse_callback("http://localhost:1/", HOSTS, allow_local=True)


def test_a_good_url_parses():
    t = cb.parse_callback("https://a.partner.example.org/tasks", HOSTS, allow_local=False)
    assert (t.scheme, t.host, t.port, t.path) == ("https", "a.partner.example.org", 443, "/tasks")


@pytest.mark.parametrize("address,why", [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("224.0.0.1", "multicast"), ("100.64.0.1", "not a public"),
    ("fd00::1", "private"), ("::ffff:10.0.0.1", "private"), ("::ffff:127.0.0.1", "loopback"),
    ("198.51.100.1", "private")])          # documentation range: private in ipaddress
def test_non_public_addresses_are_refused(address, why):
    assert why in cb.address_refusal(address, allow_local=False)


def test_public_addresses_pass_and_loopback_only_when_local():
    assert cb.address_refusal("93.184.216.34", allow_local=False) is None
    assert cb.address_refusal("2606:2800:220:1::1", allow_local=False) is None
    assert cb.address_refusal("127.0.0.1", allow_local=True) is None
    assert cb.address_refusal("10.0.0.1", allow_local=True)          # private stays refused
    assert cb.first_refusal(["93.184.216.34", "10.0.0.8"], allow_local=False).startswith(
        "10.0.0.8")


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = '{"task_id":7}'.encode()
    header = cb.signature_header("s" * 32, 1764650000, body)
    expected = hmac.new(b"s" * 32, b"1764650000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1764650000,v1={expected}"
    assert cb.verify("s" * 32, header, body, now=1764650100)
    assert not cb.verify("s" * 32, header, body + b" ", now=1764650100)     # body changed
    assert not cb.verify("x" * 32, header, body, now=1764650100)            # other secret
    assert not cb.verify("s" * 32, header, body, now=1764650000 + 301)      # too old: replay
    assert not cb.verify("s" * 32, "v1=" + expected, body, now=1764650000)  # no timestamp


def test_default_schedule_is_six_attempts_over_about_an_hour():
    delays = cb.parse_delays(Settings().notify_retry_delays_s)
    assert len(delays) + 1 == 6 and 55 * 60 <= sum(delays) <= 65 * 60
    assert [cb.retry_delay(n, delays) for n in range(1, 7)] == [*delays, None]
    with pytest.raises(ConfigurationError):
        Settings(notify_retry_delays_s="60,x")
    with pytest.raises(ConfigurationError, match="NOTIFY_LEASE_S"):
        Settings(notify_lease_s=5, callback_timeout_s=5)


@pytest.mark.parametrize("row_id,row_seq,due_passed,pending,seq,decision", [
    ("a", 0, False, True, 1, cb.CLAIM),       # the first run
    ("a", 1, False, True, 1, cb.SKIP),        # a duplicate delivery while it runs
    ("a", 1, True, True, 1, cb.CLAIM),        # its holder died (lease passed)
    ("a", 1, True, True, 2, cb.CLAIM),        # the retry
    ("a", 2, True, True, 2, cb.CLAIM),
    ("a", 2, False, True, 2, cb.SKIP),
    ("a", 3, True, True, 2, cb.SKIP),         # a stale run
    ("a", 0, False, False, 1, cb.SKIP),       # nothing pending (done, or given up)
    ("b", 0, False, True, 1, cb.SKIP),        # another finish's message (or a rolled back one)
    (None, 0, False, False, 1, cb.SKIP),
])
def test_which_run_of_a_job_may_go(row_id, row_seq, due_passed, pending, seq, decision):
    assert cb.claim_decision(row_notify_id=row_id, row_seq=row_seq, due_passed=due_passed,
                             pending=pending, msg_notify_id="a", msg_seq=seq) == decision


def test_deployed_functions_refuse_local_callbacks_and_the_built_in_secret():
    from chalicelib.config import deployed_setting_problems
    good = dict(token_secret="t" * 40, internal_auth_key="k" * 40, notify_secret="n" * 40,
                product_center_url="https://products.example.com")
    assert deployed_setting_problems(Settings(**good)) == []
    assert any("CALLBACK_ALLOW_LOCAL" in p for p in deployed_setting_problems(
        Settings(**good, callback_allow_local=True)))
    assert any("NOTIFY_SECRET" in p for p in deployed_setting_problems(
        Settings(**{**good, "notify_secret": Settings().notify_secret})))
    short = deployed_setting_problems(Settings(**{**good, "internal_auth_key": "k" * 31}))
    assert len(short) == 1 and short[0].startswith("INTERNAL_AUTH_KEY has 31 characters")
