"""The media token never leaves the server (issue 13, item 8).

The stream URL's last segment is a single-use capability to a call's audio both ways. It
is sent to Telnyx (answer, dial, streaming_start) and echoed back in webhooks; none of the
copies we store, and no page or fragment that staff with view permission can open, may
hold it.
"""

from __future__ import annotations

import importlib
import re

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.test import Client
from django.urls import reverse

from calls.models import Call, CallEvent, CarrierCommand
from telephony import actions
from tests.calls.conftest import make_call, staff
from tests.conftest import webhook

pytestmark = pytest.mark.django_db

hardening = importlib.import_module("calls.migrations.0006_hardening")


@pytest.fixture
def looker() -> Client:
    """Staff who may view calls, their events and their commands, and change nothing."""
    user = staff("looker", "calls.view_call", "calls.view_callevent", "calls.view_carriercommand")
    client = Client()
    client.force_login(user)
    return client


def live_call_with_token(settings, fake_telnyx, post_webhook, *, header_auth: bool):
    """An inbound call answered through the real client, with Telnyx's echoes of its URL."""
    settings.MEDIA_AUTH_HEADER_REQUIRED = header_auth
    call = make_call(status=Call.Status.INITIATED, call_control_id="v3:secret-call")
    token = call.issue_media_token(ttl_seconds=120)
    async_to_sync(actions.answer)(call=call, token=token)
    [sent] = [r for r in fake_telnyx.requests if b"stream_url" in r.content]
    assert token in sent.content.decode()  # Telnyx itself does get the token
    url = f"wss://phonebridge.test/telnyx/media/{call.pk}/{token}"
    common = {"call_control_id": call.call_control_id, "call_session_id": "s-secret"}
    for event_type, extra in (
        ("call.answered", {"stream_url": url, "stream_track": "inbound_track"}),
        ("streaming.started", {"stream_url": url, "stream_id": "st-1"}),
        ("streaming.failed", {"stream_params": {"stream_url": url, "track": "inbound_track"}}),
    ):
        assert post_webhook(webhook(event_type, {**common, **extra})).status_code == 200
    call = Call.objects.get(pk=call.pk)
    if not call.is_live:  # streaming.failed fails the call; make it live again for the pages
        Call.objects.filter(pk=call.pk).update(status=Call.Status.STREAMING, ended_at=None)
    return Call.objects.get(pk=call.pk), token


def every_page(client: Client, call: Call) -> dict[str, str]:
    """Every admin page and fragment about `call` a viewer can open, by URL."""
    urls = [
        reverse("admin:calls_call_changelist"),
        reverse("admin:calls_call_change", args=[call.pk]),
        reverse("admin:calls_call_live"),
        reverse("admin:calls_call_live_detail", args=[call.pk]),
        reverse("admin:calls_callevent_changelist"),
        reverse("admin:calls_carriercommand_changelist"),
        f"{reverse('admin:calls_callevent_changelist')}?q=streaming",
    ]
    for event in call.events.all():
        urls.append(reverse("admin:calls_call_event_payload", args=[call.pk, event.pk]))
        urls.append(reverse("admin:calls_callevent_change", args=[event.pk]))
    for command in call.commands.all():
        urls.append(reverse("admin:calls_carriercommand_change", args=[command.pk]))
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = response.content.decode()
    return pages


@pytest.mark.parametrize("header_auth", [False, True])
def test_a_view_only_user_finds_the_media_token_on_no_page_of_a_live_call(
    settings, fake_telnyx, post_webhook, looker, header_auth
):
    call, token = live_call_with_token(settings, fake_telnyx, post_webhook, header_auth=header_auth)
    pages = every_page(looker, call)
    assert [url for url, html in pages.items() if token in html] == []
    # Not vacuous: the pages do show the stream URL, with its token replaced.
    redacted = f"/telnyx/media/{call.pk}/***"
    assert any(redacted in html for html in pages.values())


@pytest.mark.parametrize("header_auth", [False, True])
def test_the_stored_command_and_webhooks_have_the_token_redacted(
    settings, fake_telnyx, post_webhook, header_auth
):
    call, token = live_call_with_token(settings, fake_telnyx, post_webhook, header_auth=header_auth)
    stored = [c.request_body for c in CarrierCommand.objects.filter(call=call)]
    stored += [e.payload for e in CallEvent.objects.filter(call=call)]
    assert token not in repr(stored)
    [streamed] = [b for b in stored if "stream_url" in b]
    assert streamed["stream_url"] == f"wss://phonebridge.test/telnyx/media/{call.pk}/***"
    if header_auth:
        assert streamed["stream_auth_token"] == "***"


class _AppsAt0006:
    """The model registry as migration 0006 sees it: the command log was still called
    TelnyxCommand (0007 renames it to CarrierCommand, same columns)."""

    def get_model(self, app_label: str, name: str):
        if (app_label, name) == ("calls", "TelnyxCommand"):
            return CarrierCommand
        return apps.get_model(app_label, name)


def test_the_data_migration_redacts_tokens_stored_before_it(settings):
    call = make_call()
    url = f"wss://phonebridge.test/telnyx/media/{call.pk}/s3cr3t-tok_en"
    command = CarrierCommand.objects.create(
        call=call,
        name="dial",
        path="calls",
        request_body={"to": "+15550001111", "stream_url": url, "stream_auth_token": "s3cr3t"},
        error_detail=f"stream_url {url} is unreachable",
    )
    started = CallEvent.objects.create(
        call=call,
        event_id="e-started",
        source=CallEvent.Source.WEBHOOK,
        type="streaming.started",
        occurred_at=call.created_at,
        payload=webhook("streaming.started", {"stream_url": url}),
    )
    said = CallEvent.objects.create(
        call=call,
        event_id="e-said",
        source=CallEvent.Source.WEBHOOK,
        type="call.transcription",
        occurred_at=call.created_at,
        payload=webhook("call.transcription", {"transcription_data": {"transcript": "hi"}}),
    )
    said_before = said.payload

    hardening.redact_media_tokens(_AppsAt0006(), None)

    command.refresh_from_db()
    started.refresh_from_db()
    said.refresh_from_db()
    assert "s3cr3t" not in repr([command.request_body, command.error_detail, started.payload])
    assert command.request_body["to"] == "+15550001111"
    assert command.request_body["stream_url"].endswith(f"/telnyx/media/{call.pk}/***")
    assert started.payload["data"]["payload"]["stream_url"].endswith("/***")
    assert said.payload == said_before


def test_the_data_migration_is_reversible_as_a_no_op():
    [operation] = [
        op for op in hardening.Migration.operations if getattr(op, "code", None) is not None
    ]
    assert operation.reversible


def test_a_command_error_quoting_the_stream_url_is_stored_redacted(settings, fake_telnyx):
    call = make_call(status=Call.Status.INITIATED, call_control_id="v3:refused")
    token = call.issue_media_token(ttl_seconds=120)
    quoted = f"stream_url wss://phonebridge.test/telnyx/media/{call.pk}/{token} is unreachable"
    fake_telnyx.fail("actions/answer", 422, "10015", "Bad request", quoted)
    async_to_sync(actions.answer)(call=call, token=token)
    command = CarrierCommand.objects.get(call=call, name="answer")
    assert token not in command.error_detail
    assert re.search(rf"/telnyx/media/{call.pk}/\*\*\* is unreachable", command.error_detail)
