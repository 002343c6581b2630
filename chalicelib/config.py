"""Settings: the one typed object built from the environment.

Every knob the platform has lives here, with the default a local run uses. Stages set
their values through `.chalice/config.json` environment variables; nothing else in the
code reads `os.environ`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    database_url: str = "mysql://root@127.0.0.1:3307/async_task"
    work_queue_name: str = "async-task-dev-work"
    export_bucket: str = "async-task-dev-exports"
    # HS256 key for station tokens (the API's credential) and the internal shared key.
    token_secret: str = "dev-token-secret-change-me-0123456789abcdef"
    internal_auth_key: str = "dev-internal-key-change-me-0123456789abcdef"
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
    # Links and listing.
    link_ttl_seconds: int = 900
    list_default_limit: int = 20
    list_max_limit: int = 100
    # Order export (GET /station/sales_analysis/orderdetail, docs/exports.md).
    export_sync_threshold: int = 20         # at most this many orders: file written in the request
    export_max_range_days: int = 366        # longest date range one export may cover
    export_part_mb: int = 8                 # multipart upload part size (S3 minimum 5)
    export_heartbeat_s: float = 2.0         # progress + claim refresh interval of the worker
    export_tmpdir: str = ""                 # XlsxWriter's row-data file; "" = the system temp dir
    export_tmp_mb: int = 0                  # space an XLSX export may use there; 0 = what is free

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Build settings from upper-cased environment variables named like the fields."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            values[f.name] = kind(raw) if kind is not bool else raw.lower() in ("1", "true", "yes")
        return cls(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
