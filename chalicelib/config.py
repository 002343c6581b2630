"""Settings: the one typed object built from the environment.

Every knob the platform has lives here, with the default a local run uses. Stages set
their values through `.chalice/config.json` environment variables; nothing else in the
code reads `os.environ`.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Callable, Mapping
from urllib.parse import urlparse

from chalicelib.adapters.secrets import SecretUnavailable, resolve_secrets


class ConfigurationError(RuntimeError):
    """The stage's settings cannot run the platform (a missing or malformed setting). The
    message names the setting, never a secret's value. (An unreadable secret is
    SecretUnavailable; the composition root treats both alike.)"""


STARTUP_ERRORS = (ConfigurationError, SecretUnavailable)


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    database_url: str = "mysql://root@127.0.0.1:3307/async_task"
    # How long a transaction is retried while the database is unreachable (a restart). The
    # API function's is shorter (.chalice/config.json): retries + one connect + one read
    # must end before its Lambda timeout, itself under API Gateway's 29 s, so a client gets
    # the 50300 envelope rather than the gateway's 504 (checked by make package-check).
    db_retry_s: float = 30.0
    db_connect_timeout_s: int = 5
    db_read_timeout_s: int = 60
    # Cached secrets (Powertools Parameters max_age); an auth failure re-reads at once.
    secret_max_age_s: int = 300
    work_queue_name: str = "async-task-dev-work"
    # Empty: the template's name for it, "<work queue>-dlq".
    dead_letter_queue_name: str = ""
    export_bucket: str = "async-task-dev-exports"
    # HS256 key for station tokens (the API's credential) and the internal shared key.
    token_secret: str = "dev-token-secret-change-me-0123456789abcdef"
    internal_auth_key: str = "dev-internal-key-change-me-0123456789abcdef"
    # API Gateway caches an authorizer answer this long (a request past the token's exp is
    # refused anyway); tokens living longer than token_max_lifetime_s are refused.
    auth_cache_ttl_s: int = 300
    token_max_lifetime_s: int = 7 * 24 * 3600
    # Product center (the downstream whose load sets our ceiling).
    product_center_url: str = "http://127.0.0.1:8100"     # deployed: from the stage (SSM)
    # Only for a stage deployed onto an emulator on this machine (the `localstack` stage of
    # `make test-deployed`), whose product center is the fake one on loopback.
    allow_loopback_product_center: bool = False
    product_center_timeout_s: float = 5.0
    product_center_max_attempts: int = 4
    # Calls/second the product center allows the whole platform: the ceiling of the one
    # budget every worker shares (chalicelib/service/budget.py); 0 = unlimited.
    product_center_rate: float = 0.0
    # Under the ceiling the budget adapts (AIMD): x BUDGET_DECREASE on 429s/errors/latency
    # above BUDGET_LATENCY_RATIO x its baseline, + BUDGET_INCREASE_PER_S per healthy second,
    # never below BUDGET_FLOOR; a worker reserves at most BUDGET_BLOCK_S of it at a time.
    budget_floor: float = 1.0
    budget_decrease: float = 0.9
    budget_increase_per_s: float = 10.0
    budget_latency_ratio: float = 2.0
    budget_block_s: float = 0.25
    worker_concurrency: int = 4
    # The API function's reserved concurrency (must equal api_handler's reserved_concurrency)
    # and the database connections the stage may open (chalicelib/connection_budget.py;
    # 0 = not checked): a configuration that could open more is refused at start-up.
    api_concurrency: int = 10
    db_connection_budget: int = 0
    # A chunk gives its worker up after this many seconds when other work waits (0 = never).
    slice_seconds: float = 5.0
    # Chunks one station may have queued or running at once (0 = WORKER_CONCURRENCY).
    station_max_chunks: int = 0
    # Engine shape.
    chunk_size: int = 1000
    chunk_threads: int = 10
    chunk_window: int = 4
    # Run a task's next chunk in the same invocation when the queue is empty (saves the
    # SQS round trip between chunks; never delays other tasks' messages).
    chain_chunks: bool = True
    lease_seconds: int = 120
    max_chunk_attempts: int = 5
    # The sweeper re-sends a chunk queued this long ago and never claimed (a lost message).
    sweep_stale_queued_s: int = 900
    # Stop taking details when the Lambda has less than this left.
    deadline_margin_ms: int = 20_000
    outcome_batch_size: int = 200
    outcome_flush_ms: int = 250
    max_copy_items: int = 100_000
    # Order batch submit: most orders (rows of order_data) in one batch.
    order_import_max_rows: int = 10_000
    # The import page's upload (POST /station/order/batch/preview): largest file, in MB
    # (sent as base64 in JSON: 4 MB is 5.3 MB, inside Lambda's 6 MB request payload).
    import_file_max_mb: float = 4.0
    # The zone task times are shown in (ISO 8601 with its offset): a default and
    # "station=zone" pairs; IANA names or offsets like +08:00 (chalicelib/service/station_time.py).
    station_time_zone: str = "Asia/Shanghai"
    station_time_zones: str = ""
    # The one browser origin (a frontend served elsewhere) the API grants CORS to; "" none.
    cors_allow_origin: str = ""
    # Links and listing.
    link_ttl_seconds: int = 900
    # Largest `result` (JSON bytes) the internal API stores for a task.
    result_max_bytes: int = 65_536
    list_default_limit: int = 20
    list_max_limit: int = 100
    # Order export (GET /station/sales_analysis/orderdetail, docs/exports.md).
    export_sync_threshold: int = 20         # at most this many orders: file written in the request
    export_max_range_days: int = 366        # longest date range one export may cover
    export_part_mb: int = 8                 # multipart upload part size (S3 minimum 5)
    export_heartbeat_s: float = 2.0         # progress + claim refresh interval of the worker
    export_tmpdir: str = ""                 # XlsxWriter's row-data file; "" = the system temp dir
    export_tmp_mb: int = 0                  # space an XLSX export may use there; 0 = what is free
    # Completion notifications (docs/notifications.md). A callback_url's host must be on
    # CALLBACK_HOSTS (exact names, `*.suffix` wildcards; "" = no callbacks); http and
    # loopback addresses only with CALLBACK_ALLOW_LOCAL (local and test runs: a deployed
    # function refuses to start with it). Each POST is signed with NOTIFY_SECRET (deployed:
    # NOTIFY_SECRET_PARAMETER) and given CALLBACK_TIMEOUT_S; NOTIFY_RETRY_DELAYS_S are the
    # waits after attempt 1, 2, ... (attempts = delays + 1). EVENT_BUS_NAME: the stage's
    # EventBridge bus every finished task is published on ("" = none).
    callback_hosts: str = ""
    callback_allow_local: bool = False
    callback_timeout_s: float = 5.0
    callback_ca_file: str = ""              # "" = the system's trust store
    notify_secret: str = "dev-notify-secret-change-me-0123456789abcdef"
    notify_retry_delays_s: str = "60,300,600,900,1800"
    notify_lease_s: int = 60                # a run not recorded by then may be taken again
    notify_sweep_after_s: int = 120         # the sweeper re-sends a job this long overdue
    event_bus_name: str = ""

    def __post_init__(self) -> None:
        for problem in _out_of_range(self):
            raise ConfigurationError(problem)

    @property
    def station_bound(self) -> int:
        return self.station_max_chunks or self.worker_concurrency

    @property
    def dlq_name(self) -> str:
        return self.dead_letter_queue_name or f"{self.work_queue_name}-dlq"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *,
                 read_secrets: bool = False) -> "Settings":
        """Build settings from upper-cased environment variables named like the fields.
        read_secrets: also read the secrets the environment names instead of giving them
        (DATABASE_URL_PARAMETER, DATABASE_SECRET_ARN, …; chalicelib/adapters/secrets.py)."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            try:
                values[f.name] = (kind(raw) if kind is not bool
                                  else raw.lower() in ("1", "true", "yes"))
            except ValueError:
                raise ConfigurationError(f"{f.name.upper()}={raw!r} is not a valid "
                                         f"{kind.__name__}") from None
        if read_secrets:        # SecretUnavailable names the variable and the source
            values.update(resolve_secrets(env, given=values))
        return cls(**values)


# setting -> (lowest, highest) allowed; checked when Settings are built, so a stage with a
# value out of range fails at start with the setting's name, not later in a worker.
RANGES: dict[str, tuple[float, float]] = {
    "product_center_rate": (0, 100_000), "product_center_max_attempts": (1, 20),
    "product_center_timeout_s": (0.1, 300),
    "budget_floor": (0.01, 100_000), "budget_decrease": (0.1, 0.99),
    "budget_increase_per_s": (0, 100_000), "budget_latency_ratio": (1.1, 100),
    "budget_block_s": (0.01, 5), "worker_concurrency": (1, 1000),
    "slice_seconds": (0, 600), "station_max_chunks": (0, 10_000), "chunk_size": (1, 10_000), "chunk_threads": (1, 256),
    "chunk_window": (1, 1000), "lease_seconds": (1, 3600), "max_chunk_attempts": (1, 100),
    "outcome_batch_size": (1, 10_000), "outcome_flush_ms": (1, 60_000),
    "import_file_max_mb": (0.01, 4.4),
    "callback_timeout_s": (0.1, 30), "notify_lease_s": (1, 900),
    "notify_sweep_after_s": (1, 86_400),
}


def _out_of_range(s: Settings) -> list[str]:
    problems = []
    for name, (low, high) in RANGES.items():
        value = getattr(s, name)
        if not low <= value <= high:
            problems.append(f"{name.upper()}={value!r} is out of range: it must be between"
                            f" {low:g} and {high:g}")
    if 0 < s.slice_seconds < 0.5:
        problems.append(f"SLICE_SECONDS={s.slice_seconds!r} is out of range: 0 (never yield)"
                        " or at least 0.5")
    from chalicelib.domain.callbacks import AllowList, parse_delays
    for check in (lambda: AllowList.parse(s.callback_hosts),
                  lambda: parse_delays(s.notify_retry_delays_s)):
        try:
            check()
        except ValueError as err:
            problems.append(str(err))
    if s.notify_lease_s <= s.callback_timeout_s:
        problems.append(f"NOTIFY_LEASE_S={s.notify_lease_s!r} must be longer than "
                        f"CALLBACK_TIMEOUT_S={s.callback_timeout_s!r}")
    if s.product_center_rate > 0 and s.budget_floor > s.product_center_rate:
        problems.append(f"BUDGET_FLOOR={s.budget_floor!r} is out of range: it must not exceed"
                        f" PRODUCT_CENTER_RATE={s.product_center_rate!r}")
    return problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings without the named secrets: what wiring needs (app.py's decorators), also
    when `chalice package` loads the app offline."""
    return Settings.from_env()


@lru_cache(maxsize=1)
def get_runtime_settings() -> Settings:
    """Settings with the secrets the stage names, read once per process (a Lambda's cold
    start); the composition root builds the services from these. Raises
    ConfigurationError naming what is missing or malformed."""
    settings = Settings.from_env(read_secrets=True)
    if len(settings.token_secret.encode("utf-8")) < 32:     # HS256 wants >= 256-bit keys
        raise ConfigurationError("TOKEN_SECRET must be at least 32 bytes (an HS256 key)")
    if len(settings.notify_secret.encode("utf-8")) < 32:
        raise ConfigurationError("NOTIFY_SECRET must be at least 32 bytes (an HMAC-SHA256 key)")
    from chalicelib.service.station_time import parse_zone
    for pair in [settings.station_time_zone] + settings.station_time_zones.split(","):
        if pair.strip():
            try:            # a bad zone stops the start, not the first request
                parse_zone(pair.partition("=")[2] if "=" in pair else pair)
            except ValueError as err:
                raise ConfigurationError(f"STATION_TIME_ZONE(S): {err}") from None
    deployed = on_aws(os.environ)
    settings = replace(settings, database_url=database_url_for(settings.database_url, deployed))
    if deployed:                                        # never the repo's defaults
        deployed_problems = deployed_setting_problems(settings)
        if deployed_problems:
            raise ConfigurationError(deployed_problems[0])
    from chalicelib.connection_budget import check_settings
    check_settings(settings)
    return settings


def on_aws(env: Mapping[str, str]) -> bool:
    """A function deployed on AWS: Lambda sets AWS_LAMBDA_FUNCTION_NAME. One that an
    emulator runs (LocalStack sets AWS_ENDPOINT_URL in its functions) keeps the local
    defaults: its product center and MySQL are the test's private ones, on loopback."""
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME")) and not env.get("AWS_ENDPOINT_URL")


def database_url_for(url: str, deployed: bool) -> str:
    """The URL checked (ConfigurationError naming the bad part, never the password), with
    `ssl-mode=VERIFY_IDENTITY` added in a deployed function when it names no mode."""
    from chalicelib.adapters.db import tls_mode
    try:
        mode = tls_mode(url)
    except ValueError as err:
        raise ConfigurationError(f"DATABASE_URL is malformed: {err}") from None
    if deployed and mode is None:
        url += ("&" if urlparse(url).query else "?") + "ssl-mode=VERIFY_IDENTITY"
    return url


def database_url_refresher() -> Callable[[], str | None] | None:
    """What the database adapter calls when the server refuses the password: the secret
    read again (skipping the cache), or None when the URL was given directly."""
    from chalicelib.adapters.secrets import read_field, source_of
    env = dict(os.environ)
    if env.get("DATABASE_URL") or source_of(env, "database_url") is None:
        return None
    deployed = on_aws(env)

    def refresh() -> str | None:
        fresh = read_field(env, "database_url", force=True)
        return database_url_for(fresh, deployed) if fresh else None
    return refresh


def is_loopback_url(url: str) -> bool:
    host = (urlparse(url).hostname or "").strip("[]")
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


MIN_SECRET_CHARS = 32     # a shared key or signing secret a deployed stage accepts


def deployed_setting_problems(settings: Settings) -> list[str]:
    """What a deployed function refuses to start with: the repo's built-in keys or keys
    shorter than MIN_SECRET_CHARS, and a
    missing or loopback product-center URL (every copy item would end "unavailable")."""
    built_in = Settings()
    problems = []
    for name in ("token_secret", "internal_auth_key", "notify_secret"):
        value = getattr(settings, name)
        if value == getattr(built_in, name):
            problems.append(f"{name.upper()} is not configured for this stage"
                            f" (set {name.upper()}_PARAMETER or {name.upper()})")
        elif len(value) < MIN_SECRET_CHARS:
            problems.append(f"{name.upper()} has {len(value)} characters; a stage's secret "
                            f"has at least {MIN_SECRET_CHARS} (e.g. openssl rand -hex 32)")
    if settings.callback_allow_local:
        problems.append("CALLBACK_ALLOW_LOCAL is for local and test runs only: a deployed "
                        "stage never calls back http or loopback URLs")
    url = settings.product_center_url
    loopback = is_loopback_url(url) and not settings.allow_loopback_product_center
    if not url or loopback or urlparse(url).scheme not in ("http", "https"):
        problems.append(f"PRODUCT_CENTER_URL {url!r} is missing or a loopback address "
                        "(set PRODUCT_CENTER_URL_PARAMETER or PRODUCT_CENTER_URL)")
    return problems
