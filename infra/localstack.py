"""LocalStack on the host, and `make test-localstack`: the end-to-end suite against it.

    python -m infra.localstack test [pytest args]   # install, start, run tests/e2e, stop
    python -m infra.localstack test-deployed [args] # same with real Lambdas: tests/deployed
    python -m infra.localstack serve                # start; print endpoint and PID; Ctrl-C stops

LocalStack's open-source runtime (`localstack-core`) runs on the host as
`python -m localstack.runtime.main`, without Docker and without a token. It needs Python
3.13 and its own dependency set, so it lives in its own venv (.localstack-venv), installed
from requirements-localstack.txt (every version pinned) on first use.

Each start is private: the gateway listens on 127.0.0.1:<free port> (GATEWAY_LISTEN), the
URLs it hands out (queue URLs, presigned links) name that address (LOCALSTACK_HOST), state
and temp files go under .local/localstack/<port>/ (FILESYSTEM_ROOT, TMPDIR), its DNS server
is off (DNS_ADDRESS=0: it would bind port 53) and only the services the platform uses are
loaded. Stopping is by PID: SIGTERM, then SIGKILL after a grace period.

With `function_python` (test-deployed, serve), Lambda runs the functions as host processes
on that interpreter (the `process` runtime executor of infra/localstack_executor, installed
into LocalStack's venv, which also emulates API Gateway's TOKEN authorizers and gateway
response templates): docs/deploy.md section 8.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".localstack-venv"
REQUIREMENTS = ROOT / "requirements-localstack.txt"
# The Lambda runtime executor plugin (infra/localstack_executor) goes into LocalStack's venv;
# the functions run on the project's Python in their own venv, standing for Lambda's runtime.
EXECUTOR = ROOT / "infra" / "localstack_executor"
FUNCTION_VENV = ROOT / ".lambda-runtime-venv"
FUNCTION_REQUIREMENTS = ROOT / "requirements-lambda-runtime.txt"
STATE_ROOT = ROOT / ".local" / "localstack"
PYTHON_313 = "/root/.pyenv/versions/3.13.0/bin/python"
# What the platform and `chalice deploy` touch; everything else stays unloaded.
SERVICES = ("cloudformation", "sqs", "s3", "cloudwatch", "sns", "ssm", "secretsmanager",
            "sts", "iam", "lambda", "apigateway", "events", "logs")
E2E_SERVICES = ("cloudformation", "sqs", "s3", "cloudwatch", "sns", "ssm", "secretsmanager",
                "events")          # the template's TaskEventBus (docs/notifications.md)


def _python_313() -> str:
    for candidate in (os.environ.get("LOCALSTACK_PYTHON"), PYTHON_313,
                      shutil.which("python3.13")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("LocalStack needs Python 3.13: set LOCALSTACK_PYTHON or install "
                     f"it at {PYTHON_313} (pyenv install 3.13.0)")


def _sources_hash(*paths: Path) -> str:
    digest = hashlib.md5()
    for path in paths:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts and ".egg-info" not in str(f):
                digest.update(str(f.relative_to(ROOT)).encode() + f.read_bytes())
    return digest.hexdigest()[:12]


def _ensure_venv(venv: Path, base_python: str, stamp_hash: str, *install: list[str]) -> Path:
    """The venv's python, after creating it and running the pip installs when the stamp
    (a hash of what they install) changed."""
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{stamp_hash}"
    if stamp.is_file() and python.is_file():
        return python
    if not python.is_file():
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    for args in install:
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *args], check=True)
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return python


def ensure_installed(venv: Path = VENV, requirements: Path = REQUIREMENTS) -> Path:
    """LocalStack's venv python, with the pinned requirements and this project's runtime
    executor plugin installed (again when either changed)."""
    return _ensure_venv(venv, _python_313(), _sources_hash(requirements, EXECUTOR),
                        ["-r", str(requirements)],
                        ["--no-deps", "--no-build-isolation", "--force-reinstall",
                         str(EXECUTOR)])


def ensure_function_runtime(venv: Path = FUNCTION_VENV,
                            requirements: Path = FUNCTION_REQUIREMENTS) -> Path:
    """The functions' interpreter: the project's Python (3.11, like the stages' Lambda
    runtime) in a venv with only what Lambda's runtime has: awslambdaric and boto3."""
    return _ensure_venv(venv, sys.executable, _sources_hash(requirements),
                        ["-r", str(requirements)])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def health(endpoint_url: str, timeout_s: float = 2.0) -> dict | None:
    """LocalStack's /_localstack/health document, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_localstack/health",
                                    timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


@dataclass
class LocalStack:
    """One LocalStack process on 127.0.0.1:port with its own state directory."""
    python: Path
    port: int = 0
    host: str = "127.0.0.1"
    services: tuple[str, ...] = SERVICES
    state_root: Path = STATE_ROOT
    # The functions' interpreter: set, Lambda runs them as host processes (the `process`
    # runtime executor of infra/localstack_executor) instead of wanting Docker.
    function_python: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def directory(self) -> Path:
        return self.state_root / str(self.port)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def environment(self, directory: Path) -> dict[str, str]:
        address = f"{self.host}:{self.port}"
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(directory),              # ~/.localstack (CLI config, cache) stays here
            "GATEWAY_LISTEN": address,
            "LOCALSTACK_HOST": address,          # host:port in queue URLs and presigned links
            "FILESYSTEM_ROOT": str(directory / "fs"),
            "TMPDIR": str(directory / "tmp"),    # its TMP_FOLDER, cleared at start and stop
            "CONFIG_DIR": str(directory / "config"),
            "DNS_ADDRESS": "0",
            "SERVICES": ",".join(self.services),
            "EAGER_SERVICE_LOADING": "1",        # fail at start, not at the first request
            "DISABLE_EVENTS": "1",               # no analytics calls
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "S3_SKIP_SIGNATURE_VALIDATION": "0",  # presigned links must carry a valid signature
            "LS_LOG": os.environ.get("LS_LOG", "info"),
            **(self.lambda_environment(directory) if self.function_python else {}),
        }

    def lambda_environment(self, directory: Path) -> dict[str, str]:
        return {
            "LAMBDA_RUNTIME_EXECUTOR": "process",
            "PROCESS_EXECUTOR_PYTHON": str(self.function_python),
            "PROCESS_EXECUTOR_ROOT": str(directory / "lambda"),
            # A cold start imports the whole app on a busy 2-core machine: more than
            # LocalStack's default 20 s may be needed before an environment is ready.
            "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT": "90",
        }

    def start(self, timeout_s: float = 120.0) -> "LocalStack":
        self.port = self.port or free_port(self.host)
        directory = self.directory
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "tmp").mkdir(parents=True)
        log = open(directory / "localstack.log", "wb")
        self.process = subprocess.Popen(
            [str(self.python), "-m", "localstack.runtime.main"], cwd=directory,
            env=self.environment(directory), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        try:
            self.wait_healthy(timeout_s, directory / "localstack.log")
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout_s: float, log_path: Path) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"LocalStack exited with {self.process.returncode}:\n"
                                   + log_path.read_text(errors="replace")[-4000:])
            doc = health(self.endpoint_url)
            states = (doc or {}).get("services", {})
            if doc and all(states.get(s) in ("available", "running") for s in self.services):
                return doc
            if time.monotonic() > deadline:
                raise RuntimeError(f"LocalStack not healthy after {timeout_s:.0f}s: {states}")
            time.sleep(0.2)      # polling a real condition with a deadline

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM by PID (LocalStack shuts its services down), SIGKILL after grace_s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_e2e(pytest_args: list[str]) -> int:
    """Install, start LocalStack, run tests/e2e against it, stop it (also on failure)."""
    return run_suite(["-m", "e2e", "tests/e2e", *pytest_args], services=E2E_SERVICES)


def run_deployed(pytest_args: list[str]) -> int:
    """`make test-deployed`: LocalStack with every service the deployed app uses and the
    process runtime executor, then tests/deployed (which deploys with `make deploy`)."""
    return run_suite(["-m", "deployed", "tests/deployed", *pytest_args], services=SERVICES,
                     function_python=ensure_function_runtime(), DEPLOYED_SUITE="1")


def run_suite(pytest_argv: list[str], *, services: tuple[str, ...],
              function_python: Path | None = None, **env: str) -> int:
    """Install, start LocalStack, run pytest with LOCALSTACK_ENDPOINT set, stop it (also on
    failure); the state directory and its log are kept when the tests fail."""
    started = time.monotonic()
    python = ensure_installed()
    installed = time.monotonic()
    # On SIGTERM (CI's timeout, a Ctrl-C'd make) unwind through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with LocalStack(python, services=services, function_python=function_python) as stack:
        up = time.monotonic()
        print(f"localstack: {stack.endpoint_url} pid {stack.pid} (install check "
              f"{installed - started:.1f}s, start {up - installed:.1f}s)", flush=True)
        env = {**os.environ, **env, "LOCALSTACK_ENDPOINT": stack.endpoint_url,
               "LOCALSTACK_LOG": str(stack.directory / "localstack.log")}
        done = subprocess.run([sys.executable, "-m", "pytest", *pytest_argv], cwd=ROOT,
                              env=env)
    print(f"localstack: stopped; tests took {time.monotonic() - up:.1f}s", flush=True)
    if done.returncode == 0:
        shutil.rmtree(stack.directory, ignore_errors=True)
    else:
        print(f"localstack: its log is {stack.directory / 'localstack.log'}", flush=True)
    return done.returncode


def serve() -> int:
    done = False

    def finish(*_: object) -> None:
        nonlocal done
        done = True
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, finish)
    with LocalStack(ensure_installed(), function_python=ensure_function_runtime()) as stack:
        print(f"AWS_ENDPOINT_URL={stack.endpoint_url}  (pid {stack.pid}; Ctrl-C stops)",
              flush=True)
        while not done and stack.process.poll() is None:
            time.sleep(0.5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localstack",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("test", help="run tests/e2e against a fresh LocalStack")
    sub.add_parser("test-deployed", help="deploy onto a fresh LocalStack with real Lambdas "
                                         "and run tests/deployed")
    sub.add_parser("serve", help="run LocalStack until Ctrl-C")
    sub.add_parser("install", help="only create .localstack-venv")
    args, rest = parser.parse_known_args(argv)
    if args.command == "test":
        return run_e2e(rest)
    if args.command == "test-deployed":
        return run_deployed(rest)
    if args.command == "install":
        print(ensure_installed())
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main())
