"""`runserver`: daphne's development server (HTTP and WebSocket), ready on a fresh clone.

In DEBUG only, it first applies migrations and makes sure the local admin login named in the
README exists, so a new user can open the admin at once. Misconfiguration (a failing system
check, a database that does not answer) is one line per problem and a non-zero exit, before
the autoreloader starts: otherwise it is a traceback in the server's thread followed by a
server that serves nothing.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, NoReturn

from daphne.management.commands.runserver import Command as DaphneRunserver
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import DatabaseError, connection

from telephony.telnyx.embedded import DEFAULT_PREFIX, follow_server

access_log = logging.getLogger("django.channels.server")


class Command(DaphneRunserver):
    help = "Start the development server; in DEBUG, migrate and create the local admin first."

    def handle(self, *args: Any, **options: Any) -> None:
        # The autoreloader runs handle() in the watcher and again in its child (RUN_MAIN);
        # checking and preparing once, in the watcher, is enough.
        if os.environ.get("RUN_MAIN") != "true":
            self._refuse_misconfiguration()
            if settings.DEBUG:
                self._prepare_local_development()
        super().handle(*args, **options)

    def inner_run(self, *args: Any, **options: Any) -> None:
        # Runs in the process that serves: the embedded simulator learns where that is.
        follow_server(self.addr, self.port)
        try:
            super().inner_run(*args, **options)
        except SystemCheckError:
            # A check broken by an edit while the reloader runs: say it plainly; the reloader
            # restarts the server once the file is fixed.
            for line in problem_lines():
                self.stderr.write(line)

    def _refuse_misconfiguration(self) -> None:
        problems = problem_lines()
        if problems:
            self._exit(problems)
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            self._exit([database_problem(exc)])

    def _exit(self, lines: list[str]) -> NoReturn:
        for line in lines:
            self.stderr.write(self.style.ERROR(line))
        sys.exit(1)

    def _prepare_local_development(self) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        username, password = settings.DEV_ADMIN_USERNAME, settings.DEV_ADMIN_PASSWORD
        users = get_user_model().objects
        if not users.filter(username=username).exists():
            users.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Local admin login at /admin/: {username} / {password} (DEBUG only)"
            )
        )
        if settings.TELNYX_SIMULATOR:
            self.stdout.write("No TELNYX_API_KEY: calls go to the embedded Telnyx simulator.")

    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if protocol == "http" and action == "complete" and details["status"] >= 400:
            path = str(details.get("path", ""))
            if path.startswith(DEFAULT_PREFIX):
                # The embedded simulator's own answers (often faults injected on purpose):
                # labelled, so they are never mistaken for phonebridge failing.
                access_log.warning(
                    "Telnyx simulator answered %(method)s %(path)s with %(status)s "
                    "(the simulated carrier's reply, not a phonebridge error)",
                    details,
                )
                return
            if not path.startswith("/" + settings.STATIC_URL.lstrip("/")):
                return  # Django's own 4xx/5xx: django.request has logged it already, once
        super().log_action(protocol, action, details)


def problem_lines() -> list[str]:
    """One line per error-level system check, with its fix."""
    lines = []
    for message in checks.run_checks(include_deployment_checks=False):
        if message.is_serious() and not message.is_silenced():
            hint = f" {message.hint}" if message.hint else ""
            lines.append(f"{message.id}: {message.msg}{hint}")
    return lines


def database_problem(exc: BaseException) -> str:
    db = settings.DATABASES["default"]
    where = db.get("NAME") if "sqlite" in db["ENGINE"] else f"{db.get('HOST')}:{db.get('PORT')}"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"The database ({where}) does not answer: {reason}. Start it, or fix DATABASE_URL in .env."
    )
