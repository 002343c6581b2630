"""LocalStack's side: the `process` runtime executor (LAMBDA_RUNTIME_EXECUTOR=process).

Written against localstack-core 2026.3.0 (`localstack/services/lambda_/invocation/`:
runtime_executor.RuntimeExecutor, executor_endpoint.ExecutorEndpoint, plugins.
RuntimeExecutorPlugin). Where the Docker executor starts a container with LocalStack's Go
init, this one starts `init.py` of this package as a host process on the function's
interpreter, in its own process group, with the unpacked package as LAMBDA_TASK_ROOT.

Configuration (environment of the LocalStack process):
    PROCESS_EXECUTOR_PYTHON   interpreter for the functions (a venv with awslambdaric and
                              boto3, standing in for Lambda's runtime); required
    PROCESS_EXECUTOR_ROOT     where environments keep their logs and /tmp (default: TMPDIR)

LocalStack decides how many environments run (reserved concurrency, a mapping's maximum
concurrency) and reuses a READY one; each environment serves one invocation at a time.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from concurrent.futures import InvalidStateError
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import (ExecutorEndpoint,
                                                                      StatusErrorException)
from localstack.services.lambda_.invocation.lambda_models import (FunctionVersion,
                                                                  InvocationResult)
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (LambdaRuntimeException,
                                                                     RuntimeExecutor)

LOG = logging.getLogger(__name__)
INIT = Path(__file__).with_name("init.py")
HOST = "127.0.0.1"
STOP_GRACE_S = 2.0
# Host variables an environment keeps (everything else comes from LocalStack: the
# function's configuration and Lambda's reserved variables).
HOST_VARIABLES = ("PATH", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def function_python() -> str:
    python = os.environ.get("PROCESS_EXECUTOR_PYTHON", "")
    if not python or not Path(python).is_file():
        raise LambdaRuntimeException(
            f"PROCESS_EXECUTOR_PYTHON={python!r} is not an interpreter: the process executor "
            "needs the functions' Python (a venv with awslambdaric)")
    return python


def python_version(python: str) -> str:
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


class ProcessRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id, function_version)
        self.executor_endpoint = ExecutorEndpoint(id, container_address=HOST)
        self.process: subprocess.Popen | None = None
        self.parent_w: int | None = None
        root = Path(os.environ.get("PROCESS_EXECUTOR_ROOT") or tempfile.gettempdir())
        self.directory = root / "lambda-envs" / id
        self.log_path = self.directory / "env.log"
        self.lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    def environment(self, env_vars: dict[str, str], tmp: Path) -> dict[str, str]:
        code = str(self.function_version.config.code.get_unzipped_code_location())
        env = {k: os.environ[k] for k in HOST_VARIABLES if k in os.environ}
        env.update({k: str(v) for k, v in env_vars.items()})
        env.update({"LAMBDA_TASK_ROOT": code, "TMPDIR": str(tmp), "HOME": str(tmp),
                    "_INIT_LOG": str(self.log_path), "_INIT_PYTHON": function_python()})
        return env

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        tmp = self.directory / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        listener = socket.socket()
        listener.bind((HOST, 0))
        listener.listen(64)
        self.executor_endpoint.container_port = listener.getsockname()[1]
        parent_r, self.parent_w = os.pipe()
        env = self.environment(env_vars, tmp)
        env.update(_INIT_LISTEN_FD=str(listener.fileno()), _INIT_PARENT_FD=str(parent_r))
        try:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [function_python(), str(INIT)], env=env, cwd=env["LAMBDA_TASK_ROOT"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    pass_fds=(listener.fileno(), parent_r), start_new_session=True)
        finally:
            listener.close()
            os.close(parent_r)
        threading.Thread(target=self._watch, args=(self.process,), daemon=True,
                         name=f"lambda-env-{self.id}").start()
        self.executor_endpoint.wait_for_startup()

    def _watch(self, proc: subprocess.Popen) -> None:
        """An init that dies never answers: fail the startup or the invocation waiting on
        it instead of letting LocalStack wait for its timeouts."""
        code = proc.wait()
        endpoint = self.executor_endpoint
        detail = {"errorType": "Runtime.ExitError",
                  "errorMessage": f"execution environment {self.id} exited with {code}",
                  "logs": self.get_logs()[-4000:]}
        payload = json.dumps(detail).encode()
        try:
            startup = endpoint.startup_future
            if startup is not None and not startup.done():
                startup.set_exception(StatusErrorException("Environment startup failed",
                                                           payload=payload))
            invocation = endpoint.invocation_future
            if invocation is not None and not invocation.done():
                invocation.set_result(InvocationResult("", payload, is_error=True,
                                                       logs=detail["logs"]))
        except InvalidStateError:       # settled (or cancelled by stop()) meanwhile
            pass

    def stop(self) -> None:
        with self.lock:
            proc, self.process = self.process, None
            if self.parent_w is not None:
                os.close(self.parent_w)
                self.parent_w = None
        if proc is not None:
            # SIGTERM lets init stop its runtime; then SIGKILL the whole process group (init
            # and the runtime share it), so nothing of the environment outlives stop().
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        try:
            self.executor_endpoint.shutdown()
        except Exception as err:                # already unregistered
            LOG.debug("executor endpoint of %s: %s", self.id, err)
        if not os.environ.get("PROCESS_EXECUTOR_KEEP_LOGS"):
            shutil.rmtree(self.directory / "tmp", ignore_errors=True)

    # -- addresses --------------------------------------------------------------------------
    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        return (f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}"
                f"{self.executor_endpoint.get_endpoint_prefix()}")

    # -- invocations ------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- versions ---------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        runtime = function_version.config.runtime or ""
        wanted = re.fullmatch(r"python(\d+\.\d+)", runtime)
        if not wanted:
            raise LambdaRuntimeException(f"the process executor runs Python functions only, "
                                         f"not {runtime or 'container images'}")
        have = python_version(function_python())
        if wanted.group(1) != have:
            raise LambdaRuntimeException(f"function runtime {runtime} but "
                                         f"PROCESS_EXECUTOR_PYTHON is Python {have}")
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass                    # the unpacked code belongs to LocalStack's code store

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            function_python()
        except LambdaRuntimeException as err:
            LOG.warning("%s", err)
            return False
        return True


class ProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "process"

    def load(self, *args, **kwargs):
        return ProcessRuntimeExecutor
