"""Retention: `manage.py purge_calls --older-than 90d` counts by default and deletes only with
--execute, in batches, with the calls' events, commands, recordings and admin history."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from calls.models import Call, CallEvent, CarrierCommand
from calls.retention import parse_age
from tests.calls.conftest import finished_call, make_call

pytestmark = pytest.mark.django_db

OLD = timezone.now() - timedelta(days=120)


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_calls", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def old_call(media_root) -> Call:
    call = finished_call(created_at=OLD, last_activity_at=OLD)
    call.recording.save("old.wav", ContentFile(b"RIFF...."), save=True)
    LogEntry.objects.log_actions(
        User.objects.create_user("op").pk, [call], CHANGE, change_message="Hung up: sent"
    )
    return call


def test_a_dry_run_counts_and_deletes_nothing(old_call):
    out = purge("--older-than", "90d")
    assert "Dry run" in out
    events, commands = old_call.events.count(), old_call.commands.count()
    assert f"1 calls, {events} events, {commands} commands, 1 recording files, 1 admin" in out
    assert "Nothing was deleted" in out
    assert Call.objects.filter(pk=old_call.pk).exists()
    assert old_call.recording.storage.exists(old_call.recording.name)


def test_execute_deletes_old_finished_calls_with_everything_they_own(old_call, caplog):
    recent = finished_call()
    live_but_old = make_call(status=Call.Status.STREAMING, created_at=OLD)
    orphan = CallEvent.objects.create(event_id="old-orphan", type="call.initiated", received_at=OLD)
    name = old_call.recording.name
    with caplog.at_level("INFO", logger="calls.retention"):
        out = purge("--older-than", "90d", "--execute")
    assert "Deleted" in out
    assert "1 calls," in out
    assert "1 recording files" in out
    assert not Call.objects.filter(pk=old_call.pk).exists()
    assert not CallEvent.objects.filter(call_id=old_call.pk).exists()
    assert not CarrierCommand.objects.filter(call_id=old_call.pk).exists()
    assert not CallEvent.objects.filter(pk=orphan.pk).exists()
    assert not LogEntry.objects.filter(object_id=str(old_call.pk)).exists()
    assert not old_call.recording.storage.exists(name)
    assert set(Call.objects.values_list("pk", flat=True)) == {recent.pk, live_but_old.pk}
    assert "purged calls started before" in caplog.text


def test_it_deletes_in_batches(media_root):
    for _ in range(7):
        make_call(status=Call.Status.ENDED, created_at=OLD)
    out = purge("--older-than", "2400h", "--yes", "--batch-size", "3")
    assert "7 calls" in out
    assert not Call.objects.exists()


def test_a_missing_recording_file_does_not_stop_the_purge(old_call):
    old_call.recording.storage.delete(old_call.recording.name)
    purge("--older-than", "90d", "--execute")
    assert not Call.objects.exists()


@pytest.mark.parametrize("age", ["90", "ninety days", "90w", "0d", "-3d", ""])
def test_an_age_it_cannot_read_is_a_clear_error(age):
    with pytest.raises(CommandError, match="older-than"):
        purge("--older-than", age)


def test_ages_are_days_or_hours():
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age(" 36H ") == timedelta(hours=36)
