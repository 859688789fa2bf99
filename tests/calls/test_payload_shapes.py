from __future__ import annotations

import math

import pytest

from calls.payload_shapes import (
    Link,
    confidence,
    https_url,
    https_urls,
    recording_entry,
    recording_links,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://s3.amazonaws.com/r.wav?X-Amz-Signature=abc", True),
        ("HTTPS://s3.test/r.wav", True),
        ("http://s3.test/r.wav", False),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("https:///no-host", False),
        ("//s3.test/r.wav", False),
        ("https://[broken", False),
        (None, False),
        (12, False),
        ("https://s3.test/" + "a" * 5000, False),
    ],
)
def test_only_https_urls_with_a_host_pass(value, expected):
    assert (https_url(value) is not None) is expected


def test_recording_urls_keep_only_text_formats_with_https_urls():
    odd = {
        "items": "x",
        "mp3": "javascript:alert(1)",
        "wav": "https://s3.test/r.wav",
        "ogg": None,
        7: "https://s3.test/seven.wav",
    }
    assert https_urls(odd) == {"wav": "https://s3.test/r.wav"}
    assert https_urls(["https://s3.test/r.wav"]) == {}
    assert https_urls(None) == {}


def test_a_stored_recording_entry_is_plain_text_and_https_urls():
    entry = recording_entry(
        {
            "recording_id": {"nested": True},
            "recording_urls": {"items": "x", "wav": "https://s3.test/r.wav"},
            "public_recording_urls": {"mp3": None, "wav": None},
            "recording_started_at": "2026-11-22T10:00:00Z",
            "channels": "dual",
        }
    )
    assert entry == {
        "recording_id": None,
        "urls": {"wav": "https://s3.test/r.wav"},
        "public_urls": {},
        "started_at": "2026-11-22T10:00:00Z",
        "ended_at": None,
        "channels": "dual",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.93, 0.93),
        (1, 1.0),
        (0, 0.0),
        (10**400, None),
        (1.5, None),
        (-0.1, None),
        (math.inf, None),
        (math.nan, None),
        (True, None),
        ("0.9", None),
        (None, None),
    ],
)
def test_a_confidence_is_a_finite_number_from_0_to_1(value, expected):
    assert confidence(value) == expected


def test_stored_recordings_are_read_whatever_their_shape():
    stored = [
        {"recording_id": "r1", "urls": {"items": "x", "mp3": "javascript:x"}},
        "text",
        {"urls": "https://s3.test/r.wav"},
    ]
    first, second = recording_links(stored)
    assert first.recording_id == "r1"
    assert first.links == (
        Link(label="items", url="x", linkable=False),
        Link(label="mp3", url="javascript:x", linkable=False),
    )
    assert (second.recording_id, second.links) == ("?", ())
    assert recording_links({"not": "a list"}) == []
