"""What a signed but odd call.recording.saved leaves on the call (issue 13, item 12): its
shape is checked when stored, so only text and https URLs are kept."""

from __future__ import annotations

import pytest

from calls.models import Call
from tests.conftest import webhook

pytestmark = pytest.mark.django_db


def test_odd_recording_urls_are_stored_as_text_and_https_urls_only(post_webhook):
    ccid = "v3:odd-recording"
    base = {"call_control_id": ccid, "call_session_id": "s-odd", "from": "+15557654321"}
    post_webhook(webhook("call.initiated", {**base, "direction": "incoming", "state": "parked"}))
    saved = {
        **base,
        "recording_id": {"not": "text"},
        "channels": "dual",
        "recording_urls": {
            "items": "x",
            "mp3": "javascript:alert(document.cookie)",
            "wav": "https://s3.amazonaws.com/rec.wav?X-Amz-Signature=abc",
        },
        "public_recording_urls": ["https://s3.test/list.wav"],
        "recording_started_at": 10**400,
    }
    assert post_webhook(webhook("call.recording.saved", saved)).status_code == 200
    [entry] = Call.objects.get(call_control_id=ccid).telnyx_recording_urls
    assert entry == {
        "recording_id": None,
        "urls": {"wav": "https://s3.amazonaws.com/rec.wav?X-Amz-Signature=abc"},
        "public_urls": {},
        "started_at": str(10**400)[:128],
        "ended_at": None,
        "channels": "dual",
    }
