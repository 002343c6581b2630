"""`make run`: the whole platform on this machine, stopped by Ctrl-C.

Starts (unless told to use existing ones) a private MariaDB, moto's AWS emulator and the
fake product center; provisions the queue, DLQ and bucket from infra/template.yaml;
migrates; seeds demo shops, products, operation cycles and four weeks of orders (idempotent:
a second run adds nothing); then serves the API on 127.0.0.1:8000 through
the local runtime, which also runs the SQS worker and the sweeper schedule.

    DATABASE_URL=mysql://...      use that server instead of the private MariaDB
    AWS_ENDPOINT_URL=http://...   use that emulator (e.g. LocalStack) instead of moto
    PRODUCT_CENTER_URL=http://... use that product center instead of the fake
    PORT=8000  FAKE_LATENCY_MS=200  STAGE=dev
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
DEMO_TOKEN_TTL_S = 7 * 24 * 3600


def _start_fake(stack: ExitStack, latency_ms: str) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.fake_product_center", "--port",
                             "0", "--latency-ms", latency_ms], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE)
    stack.callback(_stop, proc)
    line = proc.stdout.readline().strip()           # "fake product center on http://..."
    if " on " not in line:
        raise RuntimeError(f"fake product center did not start: {line!r}")
    return line.rsplit(" ", 1)[-1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    began = time.monotonic()
    stage = os.environ.get("STAGE", "dev")
    port = int(os.environ.get("PORT", "8000"))
    # Keys of this run only (the stage names SSM parameters for them; a value given wins).
    env: dict[str, str] = {"STAGE": stage,
                           "TOKEN_SECRET": os.environ.get("TOKEN_SECRET") or secrets.token_hex(32),
                           "INTERNAL_AUTH_KEY": os.environ.get("INTERNAL_AUTH_KEY")
                           or secrets.token_hex(32),
                           "NOTIFY_SECRET": os.environ.get("NOTIFY_SECRET") or secrets.token_hex(32),
                           # completion callbacks to a receiver on this machine (http too)
                           "CALLBACK_HOSTS": os.environ.get("CALLBACK_HOSTS", "127.0.0.1,localhost"),
                           "CALLBACK_ALLOW_LOCAL": "1"}
    started: list[str] = []
    with ExitStack() as stack:
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            from infra.local.mariadb import MariaDB, ensure_installed
            ensure_installed()
            server = MariaDB(datadir=ROOT / ".local" / "mariadb", port=3307)
            server.start()
            stack.callback(server.stop)
            server.create_database("async_task")
            database_url = server.url("async_task")
            started.append(f"MariaDB        {database_url} (data in .local/mariadb)")
        env["DATABASE_URL"] = database_url

        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            os.environ.setdefault(key, value)
            env[key] = os.environ[key]
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            from infra.local.aws import start_moto
            moto = start_moto()
            stack.callback(moto.stop)
            endpoint = moto.endpoint_url
            started.append(f"moto (AWS)     {endpoint}")
        env["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"] = endpoint
        from infra.local.aws import env_for, provision
        env.update(env_for(provision(endpoint, stage)))

        pc_url = os.environ.get("PRODUCT_CENTER_URL")
        if not pc_url:
            pc_url = _start_fake(stack, os.environ.get("FAKE_LATENCY_MS", "200"))
            started.append(f"product center {pc_url} (fake, /_stats, /_config)")
        env["PRODUCT_CENTER_URL"] = pc_url

        from infra.migrate import migrate
        migrate(database_url)
        from chalicelib.adapters.db import Database
        from infra.local.demo import seed_demo
        from infra.local.demo_orders import china_today, seed_demo_orders
        shops = seed_demo(Database(database_url))
        today = china_today()
        orders = seed_demo_orders(Database(database_url), today=today)["s001"]

        os.environ.update(env)
        from chalicelib.api.auth import issue_token
        from chalicelib.config import get_settings
        from infra.local.runtime import LocalRuntime
        runtime = LocalRuntime(app_ref="app:app", stage=stage, port=port, env=env,
                               project_dir=str(ROOT))
        runtime.start()
        stack.callback(runtime.stop)
        # The operator CLI (`make cli`) reads this stack's settings from here.
        env_file = write_env_file(env)
        stack.callback(env_file.unlink, missing_ok=True)

        token = issue_token("s001", get_settings().token_secret, ttl_s=DEMO_TOKEN_TTL_S)
        from infra.local.demo_requests import demo_requests
        src, dst = shops["旗舰店 A"], shops["分店 B"]
        tries = [line for r in demo_requests(orders, src, dst, today)
                 for line in (f"  # {r.title}", f"  {r.curl(runtime.url)}")]
        print("\n".join(["", "async-task is running:", *("  " + s for s in started),
                         f"  API            {runtime.url}  (ready in {time.monotonic() - began:.1f}s)",
                         "", f"Demo data (station s001): shops 旗舰店 A = {src}, 分店 B = {dst};"
                         f" {orders.orders} orders {orders.first_day}..{orders.last_day} in"
                         f" operation cycles {', '.join(orders.time_config_ids)}",
                         "", "Demo credential (station s001):", f"  export TOKEN={token}", "",
                         "Task center page (logs in with the demo token; 订单导入 imports a"
                         " spreadsheet):",
                         f"  {runtime.url}/ui/#" + urlencode({
                             "token": token, "source_shop_id": src, "target_shop_id": dst,
                             "category": "水果"}), "",
                         "Try (after the export TOKEN=... line above):", *tries,
                         "", "Operator CLI:  make cli ARGS='tasks'   (or: watch ID, show ID, dlq depth)",
                         "", "Ctrl-C stops everything started here."]), flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        print("\nstopping ...", flush=True)
    return 0


def write_env_file(env: dict[str, str]) -> Path:
    """KEY='value' lines of the running stack's settings, for `make cli` to source."""
    import shlex
    path = ROOT / ".local" / "stack.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {**env, **{k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                 "AWS_DEFAULT_REGION") if k in os.environ}}
    path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(keys.items())))
    path.chmod(0o600)
    return path


if __name__ == "__main__":
    sys.exit(main())
