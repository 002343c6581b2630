"""Settings: the one typed object built from the environment.

Every knob the platform has lives here, with the default a local run uses. Stages set
their values through `.chalice/config.json` environment variables; nothing else in the
code reads `os.environ`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache

from chalicelib.adapters.secrets import resolve_secrets


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    database_url: str = "mysql://root@127.0.0.1:3307/async_task"
    # How long a transaction is retried while the database is unreachable (a restart).
    db_retry_s: float = 30.0
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
    product_center_url: str = "http://127.0.0.1:8100"
    product_center_timeout_s: float = 5.0
    product_center_max_attempts: int = 4
    # Calls/second for the whole platform, split evenly over the worker instances.
    product_center_rate: float = 0.0
    worker_concurrency: int = 4
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
            values[f.name] = kind(raw) if kind is not bool else raw.lower() in ("1", "true", "yes")
        if read_secrets:
            values.update(resolve_secrets(env, given=values))
        return cls(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings without the named secrets: what wiring needs (app.py's decorators), also
    when `chalice package` loads the app offline."""
    return Settings.from_env()


@lru_cache(maxsize=1)
def get_runtime_settings() -> Settings:
    """Settings with the secrets the stage names, read once per process (a Lambda's cold
    start); the composition root builds the services from these."""
    settings = Settings.from_env(read_secrets=True)
    if len(settings.token_secret.encode("utf-8")) < 32:     # HS256 wants >= 256-bit keys
        raise RuntimeError("TOKEN_SECRET must be at least 32 bytes (an HS256 key)")
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):      # deployed: never the repo's keys
        built_in = Settings()
        for name in ("token_secret", "internal_auth_key"):
            if getattr(settings, name) == getattr(built_in, name):
                raise RuntimeError(f"{name.upper()} is not configured for this stage"
                                   f" (set {name.upper()}_PARAMETER or {name.upper()})")
    return settings
