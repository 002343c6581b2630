"""Two pieces of API Gateway that localstack-core 2026.3.0's community REST API gateway
(`services/apigateway/next_gen/execute_api`) does not do, added at LocalStack's start
(hook `localstack.hooks.on_infra_start`) so the deployed API behaves as on AWS:

1. **TOKEN Lambda authorizers.** The community handler chain has no authorizer step: a
   method with `authorizationType: CUSTOM` reaches its integration unauthenticated and
   with no `requestContext.authorizer`. `TokenAuthorizerHandler` joins the chain's
   `preprocess_request` (LocalStack's documented extension point) and does what API Gateway
   does for a TOKEN authorizer: no identity (header missing/empty, or not matching
   identityValidationExpression) -> UNAUTHORIZED without calling the function; otherwise it
   invokes the authorizer function with `{type: TOKEN, authorizationToken, methodArn}`; the
   error `Unauthorized` -> UNAUTHORIZED; any other error or a malformed answer ->
   AUTHORIZER_CONFIGURATION_ERROR (500); a policy without an Allow for the method ARN, or
   with a Deny, -> ACCESS_DENIED; allowed: `principalId` and the returned `context` become
   `requestContext.authorizer`. Results are not cached (authorizerResultTtlInSeconds is
   ignored: each request calls the authorizer, which only makes the emulation stricter).
2. **Gateway response templates.** The community gateway uses a configured gateway
   response's status code but always writes its own body (`{"message": ...}`, marked TODO
   in handlers/gateway_exception.py). Here the configured `responseTemplates` (the
   `application/json` one) and static `responseParameters` headers are applied, with
   `$context.error.message[String]` and `$context.error.responseType` substituted.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import re
from typing import Any

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)


def method_arn(context: Any) -> str:
    path = context.resource.get("path", "/") if context.resource else "/"
    method = context.resource_method.get("httpMethod") or context.request.method
    return (f"arn:aws:execute-api:{context.region}:{context.account_id}:{context.api_id}/"
            f"{context.stage}/{method}{path}")


def allows(policy: Any, arn: str) -> bool:
    """IAM-style evaluation of the authorizer's policy for execute-api:Invoke on arn."""
    if not isinstance(policy, dict):
        raise ValueError("policyDocument is not an object")
    statements = policy.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    allowed = False
    for st in statements:
        actions = st.get("Action", [])
        resources = st.get("Resource", [])
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) or a == "*" for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(arn, r) for r in resources):
            continue
        if st.get("Effect") == "Deny":
            return False
        allowed = allowed or st.get("Effect") == "Allow"
    return allowed


class TokenAuthorizerHandler:
    def __call__(self, chain: Any, context: Any, response: Any) -> None:
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
            AccessDeniedError, AuthorizerConfigurationError, UnauthorizedError)
        method = context.resource_method or {}
        if method.get("authorizationType") != "CUSTOM" or not method.get("authorizerId"):
            return
        authorizer = context.deployment.rest_api.authorizers.get(method["authorizerId"])
        if not authorizer or authorizer.get("type") != "TOKEN":
            return          # REQUEST and Cognito authorizers: not emulated, left as they were
        source = authorizer.get("identitySource", "method.request.header.Authorization")
        header = source.rsplit(".", 1)[-1]
        token = context.request.headers.get(header) or ""
        pattern = authorizer.get("identityValidationExpression")
        if not token or (pattern and not re.fullmatch(pattern, token)):
            raise UnauthorizedError("Unauthorized")
        arn = method_arn(context)
        try:
            answer = self.invoke(authorizer["authorizerUri"], token, arn, context)
        except UnauthorizedError:
            raise
        except Exception as err:
            LOG.warning("authorizer %s failed: %s", authorizer.get("name"), err)
            raise AuthorizerConfigurationError("Internal server error") from err
        try:
            allowed = allows(answer.get("policyDocument"), arn)
        except (AttributeError, ValueError) as err:
            raise AuthorizerConfigurationError("Internal server error") from err
        if not allowed:
            raise AccessDeniedError("User is not authorized to access this resource")
        context.context_variables["authorizer"] = {
            "principalId": answer.get("principalId"),
            **{k: v if isinstance(v, (str, int, float, bool)) else str(v)
               for k, v in (answer.get("context") or {}).items()}}

    @staticmethod
    def invoke(uri: str, token: str, arn: str, context: Any) -> dict[str, Any]:
        from localstack.aws.connect import connect_to
        from localstack.services.apigateway.next_gen.execute_api.helpers import (
            get_lambda_function_arn_from_invocation_uri)
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
            UnauthorizedError)
        function_arn = get_lambda_function_arn_from_invocation_uri(uri)
        result = connect_to(region_name=context.region).lambda_.invoke(
            FunctionName=function_arn, InvocationType="RequestResponse",
            Payload=json.dumps({"type": "TOKEN", "authorizationToken": token,
                                "methodArn": arn}).encode())
        payload = json.loads(result["Payload"].read() or b"null")
        if result.get("FunctionError"):
            if isinstance(payload, dict) and payload.get("errorMessage") == "Unauthorized":
                raise UnauthorizedError("Unauthorized")
            raise RuntimeError(f"authorizer error: {payload}")
        if not isinstance(payload, dict):
            raise ValueError(f"authorizer answer is not an object: {payload!r}")
        return payload


def render_gateway_response(exception: Any, context: Any) -> Any:
    """The configured gateway response (template body, static headers), or None."""
    from localstack.http import Response
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        get_gateway_response_or_default)
    configured = get_gateway_response_or_default(
        exception.type, context.deployment.rest_api.gateway_responses) or {}
    template = (configured.get("responseTemplates") or {}).get("application/json")
    if not template:
        return None
    message = json.dumps(exception.message)[1:-1]
    body = (template.replace("$context.error.messageString", f'"{message}"')
            .replace("$context.error.message", message)
            .replace("$context.error.responseType", str(exception.type)))
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": exception.code}
    for key, value in (configured.get("responseParameters") or {}).items():
        if key.startswith("gatewayresponse.header.") and value[:1] == value[-1:] == "'":
            headers[key.split(".", 2)[2]] = value[1:-1]
    status = configured.get("statusCode") or exception.status_code or 500
    return Response(response=body, headers=headers, status=int(status))


def patch_gateway_responses() -> None:
    from localstack.services.apigateway.next_gen.execute_api.handlers.gateway_exception import (
        GatewayExceptionHandler)
    original = GatewayExceptionHandler.create_exception_response
    if getattr(original, "_renders_templates", False):
        return

    def create_exception_response(self: Any, exception: Any, context: Any) -> Any:
        rendered = render_gateway_response(exception, context)
        return rendered if rendered is not None else original(self, exception, context)
    create_exception_response._renders_templates = True
    GatewayExceptionHandler.create_exception_response = create_exception_response


@hooks.on_infra_start()
def register_api_gateway_emulation() -> None:
    from localstack.services.apigateway.next_gen.execute_api import handlers
    handlers.preprocess_request.append(TokenAuthorizerHandler())
    patch_gateway_responses()
    LOG.info("API Gateway: TOKEN authorizers and gateway response templates emulated")
