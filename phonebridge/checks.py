"""Project-wide system checks: host names, the services the workers share, the local login.

Each says what is wrong and how to fix it in one line, at start-up rather than at the first
request (a webhook refused with 400, a traceback from a database that is not there).
Reaching the database and Redis costs a round trip, so those run only when asked, as
Django's own database checks do: with `check --database default`, or `check --deploy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError, connections
from django.http.request import split_domain_port, validate_host

SERVICE_TIMEOUT_S = 3.0


@register(Tags.security)
def check_hosts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = [
        Error(
            f"ALLOWED_HOSTS entry {entry!r} has a scheme or a path: Django compares host "
            "names only, so it never matches.",
            hint=f"Write the host name alone: ALLOWED_HOSTS={_bare_host(entry)}",
            id="phonebridge.E001",
        )
        for entry in settings.ALLOWED_HOSTS
        if "://" in entry or "/" in entry
    ]
    public = _bare_host(settings.PUBLIC_HOST or "")
    if public and not validate_host(split_domain_port(public)[0], _effective_allowed_hosts()):
        messages.append(
            Error(
                f"PUBLIC_HOST {public!r} is not in ALLOWED_HOSTS, so Telnyx's webhooks to "
                "it would be refused with 400.",
                hint=f"Add it: ALLOWED_HOSTS={','.join([*settings.ALLOWED_HOSTS, public])}",
                id="phonebridge.E002",
            )
        )
    return messages


def _bare_host(value: str) -> str:
    value = value.strip()
    if "://" in value:
        value = value.split("://", 1)[1]
    return value.split("/", 1)[0]


def _effective_allowed_hosts() -> list[str]:
    # What Django's HttpRequest.get_host() accepts (it adds these in DEBUG when the list is empty).
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return list(settings.ALLOWED_HOSTS)


@register(Tags.database)
def check_services(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """`check --database default`: the database and Redis answer."""
    if not databases:
        return []
    return _unreachable_services(databases)


@register(Tags.database, deploy=True)
def check_services_for_deploy(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """`check --deploy`: the same, without `--database` (which would report them twice)."""
    if databases:
        return []
    return _unreachable_services(["default"])


def _unreachable_services(databases: Sequence[str]) -> list[CheckMessage]:
    messages = [_database_problem(alias) for alias in databases]
    messages.append(_redis_problem())
    return [message for message in messages if message is not None]


def _database_problem(alias: str) -> CheckMessage | None:
    try:
        connections[alias].ensure_connection()
    except DatabaseError as exc:
        return Error(
            f"The database {alias!r} does not answer: {_first_line(exc)}.",
            hint="Start it, or fix DATABASE_URL.",
            id="phonebridge.E003",
        )
    return None


def _redis_problem() -> CheckMessage | None:
    if not settings.REDIS_URL:
        return None
    import redis  # channels_redis's client; only needed when REDIS_URL is set

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=SERVICE_TIMEOUT_S,
        socket_timeout=SERVICE_TIMEOUT_S,
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return Error(
            f"Redis at REDIS_URL does not answer: {_first_line(exc)}.",
            hint="Start redis-server, or fix REDIS_URL (unset, workers cannot share calls).",
            id="phonebridge.E004",
        )
    finally:
        client.close()
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@register(Tags.security, deploy=True)
def check_local_login(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy`: the DEBUG-only admin/admin account must not exist in production."""
    from django.contrib.auth import get_user_model

    from phonebridge.dev_login import is_local_login

    try:
        user = get_user_model().objects.filter(username=settings.DEV_ADMIN_USERNAME).first()
    except DatabaseError:
        return []  # no database or no tables yet: nothing to find (check_services says why)
    if user is None or not is_local_login(user):
        return []
    name = settings.DEV_ADMIN_USERNAME
    return [
        Error(
            f"The local development login {name}/{settings.DEV_ADMIN_PASSWORD} exists in this "
            "database. It is refused while DEBUG is off, but must not exist in production.",
            hint=f"Delete it, or give it a real password: manage.py changepassword {name}",
            id="phonebridge.E005",
        )
    ]
