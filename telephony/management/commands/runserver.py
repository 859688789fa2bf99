"""`runserver`: daphne's development server (HTTP and WebSocket), ready on a fresh clone.

In DEBUG only, it first applies migrations and makes sure the local admin login named in the
README exists, so a new user can open the admin at once.
"""

from __future__ import annotations

import os
from typing import Any

from daphne.management.commands.runserver import Command as DaphneRunserver
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command


class Command(DaphneRunserver):
    help = "Start the development server; in DEBUG, migrate and create the local admin first."

    def handle(self, *args: Any, **options: Any) -> None:
        # The autoreloader runs handle() in the watcher and again in its child (RUN_MAIN);
        # preparing once, in the watcher, is enough.
        if settings.DEBUG and os.environ.get("RUN_MAIN") != "true":
            self._prepare_local_development()
        super().handle(*args, **options)

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
