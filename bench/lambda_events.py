"""API Gateway's events for a Chalice app, as a cold or warm Lambda gets them (bench only).

Imports nothing the app would not, so a fresh process can load it before timing `import app`.
"""
from __future__ import annotations

import uuid
from typing import Any

ARN = "arn:aws:execute-api:us-east-1:123456789012:bench/api/{method}{path}"


class Context:
    """What Lambda hands a handler (the fields Powertools reads)."""

    def __init__(self, function_name: str, timeout_s: int = 30, memory_mb: int = 512):
        self.function_name, self.memory_limit_in_mb = function_name, memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id, self.function_version = uuid.uuid4().hex, "$LATEST"
        self.log_group_name, self.log_stream_name = f"/aws/lambda/{function_name}", "bench"
        self._timeout_ms = timeout_s * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def get(app_module: Any, path: str, params: dict[str, str], token: str) -> dict[str, Any]:
    """GET `path` as API Gateway calls it: the authorizer's handler for the token (uncached),
    then the API handler with the authorizer's principal and context. Returns the response."""
    auth = "Bearer " + token
    policy = app_module.station_auth({"type": "TOKEN", "authorizationToken": auth,
                                      "methodArn": ARN.format(method="GET", path=path)},
                                     Context("async-task-dev-station_auth", 10, 256))
    return app_module.app({
        "resource": path, "path": path, "httpMethod": "GET",
        "headers": {"Authorization": auth, "Host": "bench"},
        "multiValueHeaders": {"Authorization": [auth], "Host": ["bench"]},
        "queryStringParameters": params,
        "multiValueQueryStringParameters": {k: [v] for k, v in params.items()},
        "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"resourcePath": path, "httpMethod": "GET", "path": "/api" + path,
                           "requestId": uuid.uuid4().hex,
                           "authorizer": {"principalId": policy["principalId"],
                                          **policy.get("context", {})}}},
        Context("async-task-dev"))
