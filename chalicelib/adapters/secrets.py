"""Secrets read at cold start from SSM Parameter Store or Secrets Manager.

A stage names where a secret lives instead of carrying its value (.chalice/config.json is
in the repository, so values never go there):

    DATABASE_URL_PARAMETER=/async-task/prod/database-url   SSM SecureString holding the URL
    DATABASE_SECRET_ARN=arn:aws:secretsmanager:…           Secrets Manager: the URL, or the
                                                           JSON {username, password, host,
                                                           port, dbname} of an RDS secret
    TOKEN_SECRET_PARAMETER, INTERNAL_AUTH_KEY_PARAMETER    SSM SecureStrings

A value given directly (DATABASE_URL=…, as local runs and tests do) wins and nothing is
read. Settings are built once per process (config.get_settings), so each Lambda instance
makes these calls once, at cold start. A named secret that cannot be read stops the start
with SecretUnavailable naming the variable and the parameter or secret.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

# field -> [(variable naming the source, reader)]; the first variable that is set is used.
_PARAMETER = "parameter"
_SECRET = "secret"
SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "database_url": (("DATABASE_URL_PARAMETER", _PARAMETER), ("DATABASE_SECRET_ARN", _SECRET)),
    "token_secret": (("TOKEN_SECRET_PARAMETER", _PARAMETER),),
    "internal_auth_key": (("INTERNAL_AUTH_KEY_PARAMETER", _PARAMETER),),
    # Not a secret, but per stage and not in the repository either (an internal address).
    "product_center_url": (("PRODUCT_CENTER_URL_PARAMETER", _PARAMETER),),
}


class SecretUnavailable(RuntimeError):
    """A secret named by the environment could not be read (missing, denied, malformed)."""


def _client(service: str) -> Any:
    from chalicelib.adapters.aws import client   # boto3 only when a stage names a secret
    return client(service)


def read_parameter(name: str) -> str:
    """The decrypted value of an SSM parameter (SecureString or String)."""
    from botocore.exceptions import ClientError
    try:
        return _client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as err:
        raise SecretUnavailable(f"SSM parameter {name!r}: "
                                f"{err.response['Error'].get('Code')}: {err}") from err


def read_secret(secret_id: str) -> str:
    """The SecretString of a Secrets Manager secret (ARN or name)."""
    from botocore.exceptions import ClientError
    try:
        value = _client("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as err:
        raise SecretUnavailable(f"secret {secret_id!r}: "
                                f"{err.response['Error'].get('Code')}: {err}") from err
    if "SecretString" not in value:
        raise SecretUnavailable(f"secret {secret_id!r} has no SecretString")
    return value["SecretString"]


def database_url_from_secret(text: str) -> str:
    """A mysql:// URL as stored, or built from RDS's JSON secret layout."""
    text = text.strip()
    if text.startswith("mysql"):
        return text
    try:
        doc = json.loads(text)
        user, password, host = doc["username"], doc["password"], doc["host"]
    except (ValueError, TypeError, KeyError) as err:
        raise SecretUnavailable("the database secret is neither a mysql:// URL nor JSON with "
                                "username, password and host") from err
    return (f"mysql://{quote(str(user), safe='')}:{quote(str(password), safe='')}"
            f"@{host}:{int(doc.get('port') or 3306)}/{doc.get('dbname') or 'async_task'}")


_READERS: dict[str, Callable[[str], str]] = {
    _PARAMETER: read_parameter,
    _SECRET: lambda arn: database_url_from_secret(read_secret(arn)),
}


def resolve_secrets(env: Mapping[str, str], given: Iterable[str] = ()) -> dict[str, str]:
    """Values of the secret fields whose environment names a parameter or secret, except
    the fields in `given` (set directly)."""
    given = set(given)
    values: dict[str, str] = {}
    for field_name, sources in SOURCES.items():
        if field_name in given:
            continue
        for variable, kind in sources:
            where = env.get(variable)
            if where:
                try:
                    values[field_name] = _READERS[kind](where)
                except SecretUnavailable as err:
                    raise SecretUnavailable(f"{variable}={where}: {err}") from err
                break
    return values
