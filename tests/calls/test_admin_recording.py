"""The recording behind the detail page's player: staff only, and seekable (HTTP Range)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils.http import http_date

from calls.models import Call
from calls.ranges import UnsatisfiableRange, parse_range
from tests.calls.conftest import make_call, staff

pytestmark = pytest.mark.django_db

AUDIO = bytes(range(256)) * 40  # 10240 bytes standing in for a WAV file


@pytest.fixture
def recorded(db, settings, tmp_path) -> Call:
    settings.MEDIA_ROOT = str(tmp_path)
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "call.wav").write_bytes(AUDIO)
    return make_call(recording="recordings/call.wav")


def url(call: Call) -> str:
    return reverse("admin:calls_call_recording", args=[call.pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_it_serves_the_whole_recording_to_staff(viewer_client, recorded):
    response = viewer_client.get(url(recorded))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(AUDIO))
    assert body(response) == AUDIO


def test_it_answers_a_range_with_206_partial_content(viewer_client, recorded):
    response = viewer_client.get(url(recorded), headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(AUDIO)}"
    assert response["Content-Length"] == "100"
    assert body(response) == AUDIO[100:200]


def test_it_answers_an_open_ended_range(viewer_client, recorded):
    response = viewer_client.get(url(recorded), headers={"Range": "bytes=10000-"})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10000-10239/{len(AUDIO)}"
    assert body(response) == AUDIO[10000:]


def test_it_answers_a_suffix_range(viewer_client, recorded):
    response = viewer_client.get(url(recorded), headers={"Range": "bytes=-16"})
    assert response["Content-Range"] == f"bytes 10224-10239/{len(AUDIO)}"
    assert body(response) == AUDIO[-16:]


def test_it_answers_416_for_a_range_past_the_end(viewer_client, recorded):
    response = viewer_client.get(url(recorded), headers={"Range": "bytes=20000-"})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"


def test_it_sends_the_whole_file_when_if_range_no_longer_matches(viewer_client, recorded):
    stale = http_date(0)
    headers = {"Range": "bytes=0-9", "If-Range": stale}
    response = viewer_client.get(url(recorded), headers=headers)
    assert response.status_code == 200
    assert body(response) == AUDIO


def test_it_honours_if_range_when_the_file_is_unchanged(viewer_client, recorded):
    modified = viewer_client.get(url(recorded))["Last-Modified"]
    headers = {"Range": "bytes=0-9", "If-Range": modified}
    assert viewer_client.get(url(recorded), headers=headers).status_code == 206


def test_it_is_a_plain_404_for_anonymous_visitors(client, recorded):
    assert client.get(url(recorded)).status_code == 404


def test_it_is_a_404_for_logged_in_users_who_are_not_staff(recorded):
    client = Client()
    client.force_login(User.objects.create_user("customer", password="pw"))
    assert client.get(url(recorded)).status_code == 404


def test_it_is_a_404_for_staff_without_the_view_permission(recorded):
    client = Client()
    client.force_login(staff("intern"))
    assert client.get(url(recorded)).status_code == 404


def test_it_is_a_404_when_there_is_no_recording(viewer_client, db):
    assert viewer_client.get(url(make_call())).status_code == 404


def test_it_is_a_404_when_the_file_is_gone(viewer_client, db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    call = make_call(recording="recordings/missing.wav")
    assert viewer_client.get(url(call)).status_code == 404


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("BYTES = 5 - 9", (5, 9)),
        ("", None),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("bytes=9-2", None),  # invalid: ignored
        ("items=0-9", None),
        ("bytes=-", None),
        ("bytes=abc", None),
    ],
)
def test_parse_range_reads_a_single_byte_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=-0", "bytes=5000-6000"])
def test_parse_range_rejects_ranges_that_cannot_be_satisfied(header):
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 1000)
