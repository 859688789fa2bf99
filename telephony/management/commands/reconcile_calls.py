"""`manage.py reconcile_calls`: close calls stuck "live" with no stream and no activity."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from telephony.reconcile import reconcile_calls
from telephony.telnyx.client import reset_clients


class Command(BaseCommand):
    help = "Ask Telnyx about calls that look live but are idle; hang up orphans, close the rest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle",
            type=int,
            default=None,
            help=f"seconds without activity (default RECONCILE_IDLE_SECONDS={settings.RECONCILE_IDLE_SECONDS})",
        )
        parser.add_argument(
            "--loop", action="store_true", help="keep going every RECONCILE_INTERVAL s"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        asyncio.run(self._run(options["idle"], options["loop"]))

    async def _run(self, idle: int | None, loop: bool) -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        try:
            while True:
                for done in await reconcile_calls(idle_seconds=idle):
                    self.stdout.write(f"{done.call_id}: {done.action} ({done.reason})")
                if not loop:
                    return
                try:
                    await asyncio.wait_for(stop.wait(), max(settings.RECONCILE_INTERVAL, 1))
                    return
                except TimeoutError:
                    continue
        finally:
            reset_clients()
