"""Secrets read at cold start from SSM Parameter Store or Secrets Manager.

A stage names where a secret lives instead of carrying its value (.chalice/config.json is
in the repository, so values never go there):

    DATABASE_URL_PARAMETER=/async-task/prod/database-url   SSM SecureString holding the URL
    DATABASE_SECRET_ARN=arn:aws:secretsmanager:…           Secrets Manager: the URL, or the
                                                           JSON {username, password, host,
                                                           port, dbname} of an RDS secret
    TOKEN_SECRET_PARAMETER, INTERNAL_AUTH_KEY_PARAMETER    SSM SecureStrings
    NOTIFY_SECRET_PARAMETER                                SSM SecureString: the key that
                                                           signs completion callbacks
    PRODUCT_CENTER_URL_PARAMETER                           SSM String: the downstream's URL

A value given directly (DATABASE_URL=…, as local runs and tests do) wins and nothing is
read. Reads go through Powertools Parameters, which caches each value for
SECRET_MAX_AGE_S (300 s): settings are built once per process (a Lambda's cold start), and
the database adapter asks again with `force=True` when the server refuses the password
(a rotated secret, docs/deploy.md), so a warm instance follows a rotation without a
restart. A named secret that cannot be read stops the start with SecretUnavailable naming
the variable and the parameter or secret (never its value).
"""
from __future__ import annotations

import json
import threading
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

DEFAULT_MAX_AGE_S = 300

# field -> [(variable naming the source, reader)]; the first variable that is set is used.
_PARAMETER = "parameter"
_SECRET = "secret"
SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "database_url": (("DATABASE_URL_PARAMETER", _PARAMETER), ("DATABASE_SECRET_ARN", _SECRET)),
    "token_secret": (("TOKEN_SECRET_PARAMETER", _PARAMETER),),
    "internal_auth_key": (("INTERNAL_AUTH_KEY_PARAMETER", _PARAMETER),),
    "notify_secret": (("NOTIFY_SECRET_PARAMETER", _PARAMETER),),
    "product_center_url": (("PRODUCT_CENTER_URL_PARAMETER", _PARAMETER),),
}


class SecretUnavailable(RuntimeError):
    """A secret named by the environment could not be read (missing, denied, malformed)."""


_providers: dict[str, tuple[Any, Any]] = {}
_providers_lock = threading.Lock()


def _provider(kind: str) -> Any:
    """Powertools' SSM / Secrets Manager provider on the process's cached boto3 client
    (chalicelib.adapters.aws.client), rebuilt when that client was reset."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    from chalicelib.adapters.aws import client   # boto3 only when a stage names a secret
    service = "ssm" if kind == _PARAMETER else "secretsmanager"
    boto_client = client(service)
    with _providers_lock:
        held = _providers.get(kind)
        if held is None or held[0] is not boto_client:
            factory = SSMProvider if kind == _PARAMETER else SecretsProvider
            held = _providers[kind] = (boto_client, factory(boto3_client=boto_client))
        return held[1]


def _failure(what: str, err: Exception) -> SecretUnavailable:
    cause = err.__cause__ or err.__context__ or err     # Powertools re-raises in except
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") or type(cause).__name__
    text = " ".join(str(cause).split())[:300]       # one log line, whatever AWS answered
    return SecretUnavailable(f"{what}: {code}: {text}")


def read_parameter(name: str, *, max_age: int = DEFAULT_MAX_AGE_S, force: bool = False) -> str:
    """The decrypted value of an SSM parameter (SecureString or String), cached max_age s."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    try:
        return _provider(_PARAMETER).get(name, max_age=max_age, decrypt=True, force_fetch=force)
    except GetParameterError as err:
        raise _failure(f"SSM parameter {name!r}", err) from err


def read_secret(secret_id: str, *, max_age: int = DEFAULT_MAX_AGE_S,
                force: bool = False) -> str:
    """The SecretString of a Secrets Manager secret (ARN or name), cached max_age s."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    try:
        value = _provider(_SECRET).get(secret_id, max_age=max_age, force_fetch=force)
    except GetParameterError as err:
        raise _failure(f"secret {secret_id!r}", err) from err
    if not isinstance(value, str):
        raise SecretUnavailable(f"secret {secret_id!r} has no SecretString")
    return value


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


_READERS: dict[str, Callable[..., str]] = {
    _PARAMETER: read_parameter,
    _SECRET: lambda arn, **kw: database_url_from_secret(read_secret(arn, **kw)),
}


def _max_age(env: Mapping[str, str]) -> int:
    try:
        return int(env.get("SECRET_MAX_AGE_S") or DEFAULT_MAX_AGE_S)
    except ValueError:
        raise SecretUnavailable(f"SECRET_MAX_AGE_S={env.get('SECRET_MAX_AGE_S')!r} is not "
                                "a number of seconds") from None


def source_of(env: Mapping[str, str], field_name: str) -> tuple[str, str, str] | None:
    """(variable, kind, where) naming the source of a secret field, or None."""
    for variable, kind in SOURCES.get(field_name, ()):
        if env.get(variable):
            return variable, kind, env[variable]
    return None


def read_field(env: Mapping[str, str], field_name: str, *, force: bool = False) -> str | None:
    """The value of one secret field from the source the environment names (None if it
    names none); force=True skips the cache (a rotated password)."""
    found = source_of(env, field_name)
    if found is None:
        return None
    variable, kind, where = found
    try:
        return _READERS[kind](where, max_age=_max_age(env), force=force)
    except SecretUnavailable as err:
        raise SecretUnavailable(f"{variable}={where}: {err}") from err


def resolve_secrets(env: Mapping[str, str], given: Iterable[str] = ()) -> dict[str, str]:
    """Values of the secret fields whose environment names a parameter or secret, except
    the fields in `given` (set directly)."""
    given = set(given)
    values: dict[str, str] = {}
    for field_name in SOURCES:
        if field_name in given:
            continue
        value = read_field(env, field_name)
        if value is not None:
            values[field_name] = value
    return values
