"""`manage.py purge_calls --older-than 90d`: retention for the call history."""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from calls import retention

logger = logging.getLogger("calls.retention")


def _age(text: str) -> timedelta:
    try:
        return retention.parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Delete finished calls older than --older-than (with their events, commands, "
        "recordings and admin history). A dry run unless --execute (or --yes) is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=_age,
            required=True,
            metavar="AGE",
            help="age of the oldest call to keep, in days or hours: 90d, 36h",
        )
        parser.add_argument(
            "--execute",
            "--yes",
            action="store_true",
            dest="execute",
            help="really delete (without it, only count what would go)",
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="calls per transaction (default 500)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = timezone.now() - options["older_than"]
        when = timezone.localtime(cutoff).strftime("%Y-%m-%d %H:%M %Z")
        if not options["execute"]:
            found = retention.count(cutoff)
            self.stdout.write(f"Dry run: calls started before {when} that would be deleted:")
            self.stdout.write(_summary(found))
            self.stdout.write("Nothing was deleted. Run again with --execute to delete them.")
            return
        done = retention.purge(cutoff, batch_size=max(1, options["batch_size"]))
        logger.info("purged calls started before %s: %s", when, _summary(done))
        self.stdout.write(self.style.SUCCESS(f"Deleted, for calls started before {when}:"))
        self.stdout.write(_summary(done))
        if done.files_missing:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(done.files_missing)} recording file(s) could not be deleted; see the log."
                )
            )


def _summary(found: retention.Purge) -> str:
    return (
        f"{found.calls} calls, {found.events} events, {found.commands} commands, "
        f"{found.recordings} recording files, {found.history} admin history entries"
    )
