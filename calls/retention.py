"""Retention: finished calls older than a cut-off go, with their events, commands, recording
files and admin history; nothing else does.

Calls are deleted in batches (one short transaction each) so a purge of a large history never
holds a long lock or a huge transaction, and can be stopped and resumed. A live call is never
deleted, whatever its age: reconciliation closes stuck calls first. Recording files are
deleted after their rows, so a failure in between leaves a file without a call (logged, and
harmless), never a call whose recording is gone.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet

from calls.models import Call, CallEvent, CarrierCommand

logger = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d+)\s*([dh])\s*$", re.IGNORECASE)
MIN_AGE = timedelta(hours=1)


def parse_age(text: str) -> timedelta:
    """ "90d" or "36h" as a timedelta; anything else is a ValueError saying what to write."""
    match = _AGE.match(text or "")
    if not match:
        raise ValueError(
            f"{text!r} is not an age: write a number of days or hours, like 90d or 36h"
        )
    number, unit = int(match[1]), match[2].lower()
    age = timedelta(days=number) if unit == "d" else timedelta(hours=number)
    if age < MIN_AGE:
        raise ValueError(f"{text!r} is too young: the shortest age is 1h")
    return age


@dataclass
class Purge:
    calls: int = 0
    events: int = 0
    commands: int = 0
    recordings: int = 0
    history: int = 0
    files_missing: list[str] = field(default_factory=list)


def old_calls(cutoff: datetime) -> QuerySet[Call]:
    return Call.objects.filter(created_at__lt=cutoff).exclude(status__in=Call.LIVE_STATUSES)


def count(cutoff: datetime) -> Purge:
    """What a purge would remove, without removing anything."""
    calls = old_calls(cutoff)
    return Purge(
        calls=calls.count(),
        events=CallEvent.objects.filter(call__in=calls).count() + _orphan_events(cutoff).count(),
        commands=CarrierCommand.objects.filter(call__in=calls).count()
        + _orphan_commands(cutoff).count(),
        recordings=calls.exclude(recording="").count(),
        history=_history_count(calls),
    )


def purge(cutoff: datetime, *, batch_size: int = 500) -> Purge:
    """Delete what `count` counts, `batch_size` calls at a time."""
    done = Purge()
    while batch := list(old_calls(cutoff).values_list("pk", "recording")[:batch_size]):
        _delete_batch(batch, done)
    with transaction.atomic():
        done.events += _orphan_events(cutoff).delete()[0]
        done.commands += _orphan_commands(cutoff).delete()[0]
    return done


def _delete_batch(batch: list[tuple[Any, str]], done: Purge) -> None:
    ids = [pk for pk, _ in batch]
    with transaction.atomic():
        done.history += _history(ids).delete()[0]
        _, deleted = Call.objects.filter(pk__in=ids).delete()
    done.calls += deleted.get(Call._meta.label, 0)
    done.events += deleted.get(CallEvent._meta.label, 0)
    done.commands += deleted.get(CarrierCommand._meta.label, 0)
    storage = Call._meta.get_field("recording").storage
    for name in (name for _, name in batch if name):
        try:
            storage.delete(name)
        except OSError:
            logger.warning("could not delete the recording %s", name, exc_info=True)
            done.files_missing.append(name)
        else:
            done.recordings += 1


def _orphan_events(cutoff: datetime) -> QuerySet[CallEvent]:
    """Webhooks for calls we never knew (stored with no call)."""
    return CallEvent.objects.filter(call__isnull=True, received_at__lt=cutoff)


def _orphan_commands(cutoff: datetime) -> QuerySet[CarrierCommand]:
    return CarrierCommand.objects.filter(call__isnull=True, created_at__lt=cutoff)


def _history(ids: list[Any]) -> QuerySet[LogEntry]:
    """The admin History entries (operator actions) about these calls."""
    content_type = ContentType.objects.get_for_model(Call)
    return LogEntry.objects.filter(content_type=content_type, object_id__in=[str(pk) for pk in ids])


def _history_count(calls: QuerySet[Call]) -> int:
    # LogEntry.object_id is text, and a UUID's text differs between databases (SQLite keeps
    # it without hyphens): count through Python, a chunk of ids at a time.
    ids = calls.values_list("pk", flat=True).iterator(chunk_size=1000)
    return sum(_history(chunk).count() for chunk in iter(lambda: list(islice(ids, 1000)), []))
