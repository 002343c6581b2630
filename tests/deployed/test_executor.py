"""The `process` runtime executor (infra/localstack_executor) under LocalStack's own Lambda
service: small functions created through the Lambda API and invoked through it, so the
executor-endpoint protocol, the Runtime API and awslambdaric are all real."""
from __future__ import annotations

import base64
import io
import json
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

ROLE = "arn:aws:iam::000000000000:role/executor-test"
HANDLER = '''
import os, time
COLD_PID = os.getpid()
print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])

def handle(event, context):
    print("event", event)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError(event["fail"])
    if event.get("exit"):
        os._exit(3)
    return {"event": event, "pid": os.getpid(), "cold_pid": COLD_PID,
            "left_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "setting": os.environ.get("SETTING"),
            "task_root": os.environ["LAMBDA_TASK_ROOT"], "cwd": os.getcwd()}
'''


def package(**modules: str) -> bytes:
    """A deployment package with one <name>.py per keyword."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in modules.items():
            z.writestr(f"{name}.py", text)
    return buf.getvalue()


@pytest.fixture(scope="module")
def lam(boto) -> Any:
    return boto("lambda")


def create(lam: Any, code: bytes, handler: str = "fn.handle", timeout: int = 3,
           env: dict[str, str] | None = None) -> str:
    name = f"executor-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler=handler,
                        Code={"ZipFile": code}, Timeout=timeout,
                        Environment={"Variables": env or {}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def invoke(lam: Any, name: str, event: dict) -> tuple[dict, str | None, str]:
    got = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    logs = base64.b64decode(got.get("LogResult", "")).decode()
    return json.loads(got["Payload"].read() or b"null"), got.get("FunctionError"), logs


def test_handler_environment_and_context_reach_the_function(lam):
    name = create(lam, package(fn=HANDLER), timeout=7, env={"SETTING": "from-config"})
    body, error, logs = invoke(lam, name, {"n": 1})
    assert error is None, body
    assert body["event"] == {"n": 1} and body["setting"] == "from-config"
    assert 0 < body["left_ms"] <= 7000
    assert body["cwd"] == body["task_root"]             # the unpacked package
    assert f"START RequestId: {body['request_id']}" in logs and "event {'n': 1}" in logs
    assert f"REPORT RequestId: {body['request_id']}" in logs
    again, _, _ = invoke(lam, name, {"n": 2})
    assert again["pid"] == body["pid"]                  # a warm environment is reused


def test_an_exception_is_the_invocation_error_with_its_type(lam):
    name = create(lam, package(fn=HANDLER))
    body, error, logs = invoke(lam, name, {"fail": "bad item"})
    assert error == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad item"
    assert "bad item" in logs


def test_an_invocation_past_its_timeout_is_killed_and_reported(lam):
    name = create(lam, package(fn=HANDLER), timeout=1)
    first, _, _ = invoke(lam, name, {"n": 0})
    started = time.monotonic()
    body, error, logs = invoke(lam, name, {"sleep": 30})
    took = time.monotonic() - started
    assert error == "Unhandled" and body["errorType"] == "Sandbox.Timedout", body
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert 1.0 <= took < 10, took                       # killed, not slept out
    after, error, logs = invoke(lam, name, {"n": 1})    # a new runtime, a new init
    assert error is None and after["cold_pid"] != first["cold_pid"]
    assert "init of" in logs


def test_a_runtime_that_exits_mid_invocation_is_an_error_not_a_hang(lam):
    name = create(lam, package(fn=HANDLER), timeout=20)
    started = time.monotonic()
    body, error, _ = invoke(lam, name, {"exit": True})
    assert error == "Unhandled" and body["errorType"] == "Runtime.ExitError", body
    assert time.monotonic() - started < 10
    assert invoke(lam, name, {"n": 1})[1] is None       # and the next one runs


def test_concurrent_invocations_get_one_environment_each(lam):
    name = create(lam, package(fn=HANDLER), timeout=10)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda n: invoke(lam, name, {"sleep": 1.5, "n": n}),
                                range(3)))
    assert all(error is None for _, error, _ in results), results
    assert len({body["pid"] for body, _, _ in results}) == 3   # one at a time per environment


@pytest.mark.parametrize("code, handler, wanted", [
    (package(fn="import no_such_module\n"), "fn.handle", "Runtime.ImportModuleError"),
    (package(fn=HANDLER), "fn.missing", "Runtime.HandlerNotFound"),
    (package(fn="raise RuntimeError('bad config: DATABASE_URL')\n"), "fn.handle", "RuntimeError"),
    (package(fn="import os\nos._exit(2)\n"), "fn.handle", "Runtime.ExitError"),
])
def test_a_function_that_cannot_start_returns_its_error_at_once(lam, code, handler, wanted):
    name = create(lam, code, handler=handler, timeout=30)
    started = time.monotonic()
    body, error, _ = invoke(lam, name, {})
    assert error == "Unhandled", body
    assert wanted in json.dumps(body), body
    assert time.monotonic() - started < 15              # reported, not LocalStack's timeout
