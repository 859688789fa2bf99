"""Odd but signed payloads do not break pages (issue 13, item 12): whatever a call stored,
its detail page and its live fragments render, and only https URLs become links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from calls.models import Call
from tests.calls.conftest import T0, make_call, webhook_event

pytestmark = pytest.mark.django_db

ODD_RECORDINGS = [
    {"recording_id": "r-items", "urls": {"items": "x"}, "channels": "dual"},
    {
        "recording_id": "r-js",
        "urls": {"mp3": "javascript:alert(document.cookie)", "wav": "https://s3.test/r.wav"},
    },
    {"recording_id": ["not", "text"], "urls": ["https://s3.test/list.wav"]},
    "not an object",
    {"urls": {"mp3": None, "wav": 12}},
]


def pages(client, call: Call) -> list[str]:
    detail = client.get(reverse("admin:calls_call_change", args=[call.pk]))
    fragments = client.get(reverse("admin:calls_call_live_detail", args=[call.pk]))
    assert (detail.status_code, fragments.status_code) == (200, 200)
    html = detail.content.decode()
    return [html, *(f["html"] for f in fragments.json()["fragments"].values())]


def test_odd_stored_recording_urls_do_not_break_the_detail_page(viewer_client):
    call = make_call(status=Call.Status.ENDED, telnyx_recording_urls=ODD_RECORDINGS)
    html = pages(viewer_client, call)[0]
    assert "r-items" in html
    assert "r-js" in html


def test_only_https_recording_urls_are_links(viewer_client):
    call = make_call(status=Call.Status.ENDED, telnyx_recording_urls=ODD_RECORDINGS)
    for html in pages(viewer_client, call):
        assert 'href="javascript:' not in html
    html = pages(viewer_client, call)[0]
    assert 'href="https://s3.test/r.wav"' in html
    assert "javascript:alert(document.cookie)" in html  # shown, as text


@pytest.mark.parametrize(
    "confidence", [10**400, -(10**400), 1e308, -1, "0.9", None, True, [0.5], {"x": 1}]
)
def test_an_odd_transcription_confidence_does_not_break_the_detail_page(viewer_client, confidence):
    call = make_call(status=Call.Status.ENDED)
    data = {"transcript": "I need help.", "confidence": confidence, "is_final": True}
    webhook_event(call, "call.transcription", T0 + timedelta(seconds=1), transcription_data=data)
    html = pages(viewer_client, call)[0]
    assert "I need help." in html


@pytest.mark.parametrize(
    "payload", [{"data": ["a list"]}, {"data": {"payload": "text"}}, ["a", "list"], "text"]
)
def test_a_transcription_event_of_any_shape_does_not_break_the_detail_page(viewer_client, payload):
    call = make_call(status=Call.Status.ENDED)
    event = webhook_event(call, "call.transcription", T0 + timedelta(seconds=1))
    event.payload = payload
    event.save(update_fields=["payload"])
    pages(viewer_client, call)
