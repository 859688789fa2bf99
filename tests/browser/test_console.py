"""The operator console in Chromium, with calls written straight to the database and a fake
Telnyx behind the real client (the end-to-end flows are in test_simulated_calls.py)."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from django.utils import timezone

from calls.models import Call, CarrierCommand
from tests.browser.conftest import log_in
from tests.calls.conftest import FakeTelnyx, finished_call, make_call

pytestmark = [pytest.mark.browser]

RATE = 8000


@pytest.fixture
def fake_telnyx(monkeypatch: pytest.MonkeyPatch) -> FakeTelnyx:
    fake = FakeTelnyx()
    monkeypatch.setattr("telephony.telnyx.call_control.get_client", fake.client)
    return fake


def write_wav(path, seconds: float) -> None:
    t = np.arange(int(RATE * seconds)) / RATE
    caller = (6000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    agent = (6000 * np.sin(2 * np.pi * 660 * t)).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.column_stack([caller, agent]).tobytes())


def test_an_operator_logs_in_and_sees_the_call_list(page, operator_user):
    make_call(from_number="+15551112222")
    log_in(page, operator_user)
    assert page.locator("#result_list").inner_text().count("+15551112222") == 1
    assert page.locator("#dial-button").is_visible()


def test_staff_without_the_dial_permission_see_no_dial_button(page, viewer_user):
    log_in(page, viewer_user)
    assert page.locator("#result_list, .paginator").first.is_visible()
    assert page.locator("#dial-button").count() == 0
    response = page.goto("/admin/calls/call/dial/")
    assert response.status == 403


def test_an_invalid_number_shows_the_form_error(page, operator_user, fake_telnyx):
    log_in(page, operator_user)
    page.click("#dial-button")
    page.fill("#id_to", "555-0100")
    page.click("#dial-submit")
    error = page.locator(".field-to .errorlist")
    assert "is not an E.164 phone number" in error.inner_text()
    assert fake_telnyx.requests == []


def test_dialing_lands_on_the_new_calls_page(page, operator_user, fake_telnyx):
    log_in(page, operator_user)
    page.click("#dial-button")
    page.fill("#id_to", "+15553334444")
    page.select_option("#id_amd", "detect")
    page.fill("#id_greeting", "Hello from the test")
    page.click("#dial-submit")
    call = Call.objects.get()
    page.wait_for_url(f"**/admin/calls/call/{call.pk}/change/")
    assert "Dialing +15553334444" in page.locator(".messagelist").inner_text()
    assert "+15553334444" in page.locator('[data-fragment="summary"]').inner_text()
    assert call.custom_data == {"greeting": "Hello from the test", "amd": "detect"}
    # The dial command shows up in the timeline (the page polls for it).
    page.locator("#timeline", has_text="→ dial").wait_for()


def test_an_operator_hangs_up_a_live_call(page, operator_user, fake_telnyx):
    call = make_call(status=Call.Status.STREAMING, call_control_id="v3:live-hangup")
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#hangup-button")
    page.locator(".messagelist", has_text="Hang-up sent.").wait_for()
    assert [r.url.path for r in fake_telnyx.requests] == ["/v2/calls/v3:live-hangup/actions/hangup"]
    assert CarrierCommand.objects.get(call=call).name == "hangup"
    # Telnyx confirms with call.hangup; the open page follows without a reload.
    call.mark_ended(at=timezone.now(), cause="normal_clearing", source="callee")
    page.locator('[data-fragment="summary"] .pb-status-ended').wait_for()
    page.locator("#call-controls").wait_for(state="hidden")


def test_an_operators_hang_up_is_on_the_timeline_and_in_the_calls_history(
    page, operator_user, fake_telnyx
):
    call = make_call(status=Call.Status.STREAMING, call_control_id="v3:audited-hangup")
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#hangup-button")
    page.locator(".messagelist", has_text="Hang-up sent.").wait_for()
    row = page.locator("#timeline", has_text="operator.hang_up")
    row.wait_for()
    assert f"user={operator_user.username}" in row.inner_text()
    page.goto(f"/admin/calls/call/{call.pk}/history/")
    history = page.locator("#change-history")
    assert operator_user.username in history.inner_text()
    assert "Hung up: sent" in history.inner_text()


def test_the_list_follows_calls_coming_and_going_without_a_reload(page, operator_user):
    log_in(page, operator_user)
    panel = page.locator("#live-calls")
    panel.locator(".pb-empty", has_text="No live calls").wait_for()
    call = make_call(status=Call.Status.RINGING, from_number="+15557778888")
    panel.locator("tr", has_text="+15557778888").locator(".pb-status-ringing").wait_for()
    call.mark_answered(at=timezone.now())
    panel.locator("tr", has_text="+15557778888").locator(".pb-status-answered").wait_for()
    call.mark_ended(at=timezone.now(), cause="normal_clearing")
    panel.locator("tr.pb-finished", has_text="+15557778888").locator(".pb-status-ended").wait_for()
    assert "normal_clearing" in panel.inner_text()


def test_the_call_detail_shows_timeline_transcript_and_a_seekable_recording(
    page, operator_user, settings, tmp_path, artifacts
):
    settings.MEDIA_ROOT = str(tmp_path)
    write_wav(tmp_path / "recordings" / "call.wav", seconds=3.0)
    call = finished_call(
        recording="recordings/call.wav",
        stream_id="stream-1",
        media_encoding="PCMU",
        media_sample_rate=8000,
        frames_in=450,
        frames_out=448,
        bytes_in=72000,
        bytes_out=71680,
        max_inbound_gap_ms=40,
        first_inbound_ms=120,
        first_outbound_ms=260,
        bridge="echo",
        bridge_status="joined",
        bridge_join_ms=35,
    )
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")

    timeline = page.locator("#timeline")
    assert "call.dtmf.received" in timeline.inner_text()
    failed = timeline.locator("tr.pb-failed")
    assert "Telnyx error 90034 Invalid destination" in failed.inner_text()
    timeline.locator("tr", has_text="call.dtmf.received").locator("summary").click()
    timeline.locator("pre", has_text='"digit": "5"').wait_for()

    said = page.locator("#transcript li").all_inner_texts()
    assert [line.split()[0] for line in said] == ["Agent", "Caller"]
    assert "I need an appointment." in said[1]

    page.wait_for_function("document.querySelector('#call-recording').readyState >= 1")
    duration = page.evaluate("document.querySelector('#call-recording').duration")
    assert duration == pytest.approx(3.0, abs=0.05)
    # Seeking needs byte ranges: the browser's own session fetches a slice.
    status, content_range = page.evaluate(
        """async () => {
            const src = document.querySelector('#call-recording').src;
            const r = await fetch(src, {headers: {Range: 'bytes=44-1043'}});
            return [r.status, r.headers.get('Content-Range')];
        }"""
    )
    size = (tmp_path / "recordings" / "call.wav").stat().st_size
    assert (status, content_range) == (206, f"bytes 44-1043/{size}")
    page.evaluate("document.querySelector('#call-recording').currentTime = 2.5")
    page.wait_for_function("document.querySelector('#call-recording').currentTime >= 2.4")

    page.screenshot(path=str(artifacts / "call-detail.png"), full_page=True)


def test_the_recording_is_a_404_for_a_visitor_who_is_not_logged_in(page, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    write_wav(tmp_path / "recordings" / "call.wav", seconds=0.5)
    call = make_call(recording="recordings/call.wav")
    response = page.goto(f"/admin/calls/call/{call.pk}/recording/")
    assert response.status == 404


def test_the_list_says_so_when_live_updates_stop_because_the_session_ended(page, operator_user):
    from django.contrib.sessions.models import Session

    log_in(page, operator_user)
    page.locator("#live-calls .pb-empty", has_text="No live calls").wait_for()
    Session.objects.all().delete()
    page.locator("#live-updates-stopped").wait_for()
