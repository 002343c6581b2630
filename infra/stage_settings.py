"""What every deployed stage must name in .chalice/config.json (checked by make package-check).

A deployed function refuses to start without these (chalicelib/config.py), so a stage that
lacks one would deploy and then answer 50300 to every request: the gate catches it before.

* Every required setting is named, and each secret as a *source* (an SSM parameter or a
  Secrets Manager secret), never as a value: the file is in the repository.
* The product center's URL comes from the stage (PRODUCT_CENTER_URL_PARAMETER, or a
  non-loopback PRODUCT_CENTER_URL).
* Time budgets: the API function's timeout is under API Gateway's 29 s integration timeout,
  and its DB retry budget plus one connect and one read fits inside it with room to answer
  50300; the sweep function has its own timeout and memory.
* Log retention is set and X-Ray tracing is on.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API_GATEWAY_TIMEOUT_S = 29
ANSWER_MARGIN_S = 2          # after the last DB attempt fails: build and send the 50300
# setting -> the variables any one of which names it
REQUIRED = {
    "database_url": ("DATABASE_URL_PARAMETER", "DATABASE_SECRET_ARN"),
    "token_secret": ("TOKEN_SECRET_PARAMETER",),
    "internal_auth_key": ("INTERNAL_AUTH_KEY_PARAMETER",),
    "notify_secret": ("NOTIFY_SECRET_PARAMETER",),
    "event_bus_name": ("EVENT_BUS_NAME",),
    "product_center_url": ("PRODUCT_CENTER_URL_PARAMETER", "PRODUCT_CENTER_URL"),
    "stage": ("STAGE",),
    "work_queue_name": ("WORK_QUEUE_NAME",),
    "export_bucket": ("EXPORT_BUCKET",),
    "worker_concurrency": ("WORKER_CONCURRENCY",),
    "product_center_rate": ("PRODUCT_CENTER_RATE",),
    "cors_allow_origin": ("CORS_ALLOW_ORIGIN",),
    "powertools_service_name": ("POWERTOOLS_SERVICE_NAME",),
    "powertools_metrics_namespace": ("POWERTOOLS_METRICS_NAMESPACE",),
}
NEVER_AS_VALUES = ("DATABASE_URL", "TOKEN_SECRET", "INTERNAL_AUTH_KEY", "NOTIFY_SECRET")
FUNCTIONS = ("api_handler", "station_auth", "work", "sweep")


def _function_env(config: dict[str, Any], stage: str, function: str) -> dict[str, str]:
    stage_cfg = config["stages"][stage]
    return {**config.get("environment_variables", {}),
            **stage_cfg.get("environment_variables", {}),
            **stage_cfg.get("lambda_functions", {}).get(function, {}).get(
                "environment_variables", {})}


def stage_setting_problems(stage: str, config: dict[str, Any] | None = None) -> list[str]:
    from chalicelib.config import Settings, is_loopback_url
    if config is None:
        config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage_cfg = config["stages"][stage]
    functions = stage_cfg.get("lambda_functions", {})
    problems = []
    for function in FUNCTIONS:
        env = _function_env(config, stage, function)
        where = f"[{stage}] {function}"
        for setting, variables in REQUIRED.items():
            if not any(env.get(v) for v in variables):
                problems.append(f"{where}: {setting} is not set (set {' or '.join(variables)})")
        problems += [f"{where}: {v} is a secret given as a value; name its SSM parameter "
                     f"({v}_PARAMETER) instead" for v in NEVER_AS_VALUES if env.get(v)]
        if env.get("CALLBACK_ALLOW_LOCAL"):
            problems.append(f"{where}: CALLBACK_ALLOW_LOCAL is for local and test runs only")
        url = env.get("PRODUCT_CENTER_URL")
        if url and is_loopback_url(url):
            problems.append(f"{where}: PRODUCT_CENTER_URL {url!r} is a loopback address")
    api = functions.get("api_handler", {})
    timeout = api.get("lambda_timeout", stage_cfg.get("lambda_timeout"))
    if not timeout or timeout > API_GATEWAY_TIMEOUT_S - 1:
        problems.append(f"[{stage}] api_handler lambda_timeout {timeout} must be at most "
                        f"{API_GATEWAY_TIMEOUT_S - 1} s (API Gateway gives up at "
                        f"{API_GATEWAY_TIMEOUT_S} s)")
    else:
        env = _function_env(config, stage, "api_handler")
        defaults = Settings()
        budget = (float(env.get("DB_RETRY_S", defaults.db_retry_s))
                  + float(env.get("DB_CONNECT_TIMEOUT_S", defaults.db_connect_timeout_s))
                  + float(env.get("DB_READ_TIMEOUT_S", defaults.db_read_timeout_s))
                  + ANSWER_MARGIN_S)
        if budget > timeout:
            problems.append(f"[{stage}] api_handler: DB_RETRY_S + DB_CONNECT_TIMEOUT_S + "
                            f"DB_READ_TIMEOUT_S + {ANSWER_MARGIN_S} s = {budget:g} s exceeds "
                            f"its lambda_timeout {timeout} s: a DB outage would end in the "
                            "gateway's 504 instead of 50300")
    sweep = functions.get("sweep", {})
    if not sweep.get("lambda_timeout") or not sweep.get("lambda_memory_size"):
        problems.append(f"[{stage}] sweep needs its own lambda_timeout and lambda_memory_size "
                        "(it builds a finished task's error report)")
    if not stage_cfg.get("log_retention_in_days", config.get("log_retention_in_days")):
        problems.append(f"[{stage}] log_retention_in_days is not set")
    if not stage_cfg.get("xray", config.get("xray")):
        problems.append(f"[{stage}] xray (X-Ray tracing) is not on")
    return problems
