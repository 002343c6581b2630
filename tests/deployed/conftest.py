"""The deployed shape on LocalStack: `make test-deployed` (infra/localstack_deployed.py)
starts LocalStack with the `process` Lambda runtime executor and sets LOCALSTACK_ENDPOINT
and DEPLOYED_SUITE=1. Without them nothing here is collected, so `make test` neither runs
nor skips these tests.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import pytest

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "").rstrip("/")

if not (ENDPOINT and os.environ.get("DEPLOYED_SUITE")):
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if "tests/deployed/" in str(item.fspath):
            item.add_marker(pytest.mark.deployed)


@pytest.fixture(scope="session")
def boto() -> Any:
    """boto3 clients for LocalStack (dummy credentials, us-east-1)."""
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")
    return client


STAGE = "localstack"


def deploy_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What `make deploy` gets in CI, pointed at LocalStack instead of an AWS account."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "DATABASE_URL", "TOKEN_SECRET", "INTERNAL_AUTH_KEY",
                                "PRODUCT_CENTER", "WORK_QUEUE", "EXPORT_BUCKET", "DLQ_"))}
    env.update({"AWS_ENDPOINT_URL": ENDPOINT, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    env.update(extra or {})
    return env


def run_deploy(project_dir: Any, stage: str = STAGE, **extra: str) -> Any:
    """`make deploy STAGE=<stage>` in project_dir; its output is echoed into the test log."""
    import subprocess
    done = subprocess.run(["make", "-s", "deploy", f"STAGE={stage}"], cwd=project_dir,
                          env=deploy_env(extra), capture_output=True, text=True, timeout=900)
    print(f"--- make deploy STAGE={stage} in {project_dir} (exit {done.returncode})\n"
          f"{done.stdout}\n{done.stderr}")
    return done


def api_url_from(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("API URL: "):
            return line.split(": ", 1)[1].strip().rstrip("/")
    raise AssertionError(f"no 'API URL:' line in the deploy output:\n{output}")


@pytest.fixture(scope="session")
def stage_secrets(boto: Any, database_url: str, product_center: Any) -> dict[str, str]:
    """The stage's SSM parameters, created before the first deploy (docs/deploy.md §4)."""
    from tests.conftest import INTERNAL_KEY, NOTIFY_SECRET, TOKEN_SECRET
    # The private MariaDB has no TLS: the URL says so (a deployed function otherwise adds
    # ssl-mode=VERIFY_IDENTITY, chalicelib/config.py:database_url_for).
    values = {"database-url": f"{database_url}?ssl-mode=DISABLED", "token-secret": TOKEN_SECRET,
              "internal-auth-key": INTERNAL_KEY, "product-center-url": product_center.url,
              "notify-secret": NOTIFY_SECRET}
    ssm = boto("ssm")
    for name, value in values.items():
        ssm.put_parameter(Name=f"/async-task/{STAGE}/{name}", Value=value,
                          Type="SecureString", Overwrite=True)
    return values


@pytest.fixture(scope="session")
def deployed(stage_secrets: dict[str, str], tmp_path_factory: Any) -> dict[str, Any]:
    """The stage deployed from a fresh clone of this checkout, as CI does it."""
    import time
    from tests.deployed.clones import fresh_clone
    clone = fresh_clone(tmp_path_factory.mktemp("clone-a"))
    started = time.monotonic()
    done = run_deploy(clone)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return {"clone": clone, "api_url": api_url_from(done.stdout), "output": done.stdout,
            "took_s": time.monotonic() - started}


@pytest.fixture(scope="session")
def aws(deployed: dict[str, Any], boto: Any) -> dict[str, str]:
    """The deployed stage's stack in place of moto (for the test process's own reads)."""
    from chalicelib.adapters import aws as aws_adapter
    from infra.local.aws import env_for
    stack = boto("cloudformation").describe_stacks(StackName=f"async-task-{STAGE}")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    os.environ["AWS_ENDPOINT_URL"] = ENDPOINT
    aws_adapter.reset_clients()
    return env_for(outputs, ENDPOINT, "us-east-1")


def call(url: str, token: str | None = None, method: str = "GET",
         body: Any = None) -> tuple[int, dict, dict]:
    """One request to the deployed API: (status, JSON body, response headers)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), dict(err.headers)
