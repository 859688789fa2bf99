"""The call on one screen, in Chromium: the two-channel waveform drawn from the server's
peaks, seeking from a transcript line, a timeline row and the waveform itself, the turns
chart and the quality table; the WAV is fetched by the player only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calls.models import Call, CallEvent
from tests.browser.conftest import log_in
from tests.browser.test_console import write_wav
from tests.calls.conftest import CONVERSATION, T0, finished_call, make_call

pytestmark = [pytest.mark.browser]

QUALITY = {
    "inbound": {
        "mos": "3.2",
        "jitter_max_variance": "12.5",
        "jitter_packet_count": "4",
        "packet_count": "1000",
        "skip_packet_count": "7",
    },
    "outbound": {"packet_count": "990", "skip_packet_count": "0"},
}


def recorded_call(tmp_path, **fields) -> Call:
    write_wav(tmp_path / "recordings" / "call.wav", seconds=6.0)
    call = finished_call(
        recording="recordings/call.wav",
        stream_id="stream-1",
        frames_in=300,
        frames_out=290,
        underruns=2,
        conversation=CONVERSATION,
        call_quality_stats=QUALITY,
        **fields,
    )
    CallEvent.objects.create(
        call=call,
        event_id=f"media:{call.pk}",
        source=CallEvent.Source.MEDIA,
        type="media.start",
        occurred_at=T0 + timedelta(seconds=1),
        payload={"stream_id": "stream-1"},
    )
    return call


def lane_ink(page, lane: int) -> int:
    """How many pixels of one channel's lane of the canvas are drawn on."""
    return page.evaluate(
        """(lane) => {
            const canvas = document.querySelector('#waveform canvas');
            const half = Math.floor(canvas.height / 2);
            const data = canvas.getContext('2d').getImageData(0, lane * half, canvas.width, half).data;
            let ink = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
            return ink;
        }""",
        lane,
    )


def current_time(page) -> float:
    return page.evaluate("document.querySelector('#call-recording').currentTime")


def test_the_waveform_draws_both_channels_and_clicks_seek_the_recording(
    page, operator_user, settings, tmp_path, artifacts
):
    settings.MEDIA_ROOT = str(tmp_path)
    call = recorded_call(tmp_path)
    recording_requests = []
    page.on(
        "request",
        lambda r: recording_requests.append(r.resource_type) if "/recording/" in r.url else None,
    )
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")

    page.locator('#waveform[data-state="drawn"]').wait_for()
    assert float(page.get_attribute("#waveform", "data-duration")) == 6.0
    area = page.evaluate(
        "(() => { const c = document.querySelector('#waveform canvas'); return c.width * c.height; })()"
    )
    # Both lanes carry a waveform, and far from all of the canvas is painted.
    assert 0.02 * area < lane_ink(page, 0) < 0.5 * area
    assert 0.02 * area < lane_ink(page, 1) < 0.5 * area
    regions = page.locator("#waveform .pb-region")
    assert regions.locator("xpath=self::*[@data-kind='caller']").count() == 2
    assert (
        regions.locator("xpath=self::*[@data-kind='agent']").count() == 1
    )  # turn 2's is after the end
    assert regions.locator("xpath=self::*[@data-kind='barge-in']").count() == 1
    assert regions.locator("xpath=self::*[@data-kind='dtmf']").inner_text() == "5"
    assert regions.locator("xpath=self::*[@data-kind='transcript']").count() == 2

    page.wait_for_function("document.querySelector('#call-recording').readyState >= 1")
    # The caller's line came 3 s into the recording: clicking it plays from there.
    page.locator("#transcript li", has_text="I need an appointment.").click()
    page.wait_for_function("document.querySelector('#call-recording').currentTime >= 2.9")
    assert current_time(page) < 4.5
    page.evaluate("document.querySelector('#call-recording').pause()")
    # The DTMF row of the timeline: 4 s in.
    page.locator("#timeline tr", has_text="call.dtmf.received").locator("td").first.click()
    page.wait_for_function(
        "Math.abs(document.querySelector('#call-recording').currentTime - 4.0) < 0.5"
    )
    page.evaluate("document.querySelector('#call-recording').pause()")
    # The waveform itself: a click near its start.
    canvas = page.locator("#waveform canvas")
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.1, "y": box["height"] * 0.25})
    page.wait_for_function("document.querySelector('#call-recording').currentTime < 1.5")
    page.locator("#waveform .pb-playhead").wait_for()

    # The audio element is the only thing that fetched the WAV.
    assert recording_requests
    assert set(recording_requests) == {"media"}
    page.screenshot(path=str(artifacts / "call-detail-waveform.png"), full_page=True)


def test_the_turns_chart_and_the_quality_table_are_shown_with_their_thresholds(
    page, operator_user, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    call = recorded_call(tmp_path)
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")

    chart = page.locator("#turns-chart")
    assert chart.locator("rect.pb-bar").count() == 2
    heights = [float(h) for h in chart.locator("rect.pb-bar").evaluate_all(
        "bars => bars.map(b => b.getAttribute('height'))"
    )]  # fmt: skip
    assert heights[0] / heights[1] == pytest.approx(640 / 910, abs=0.01)
    assert chart.locator(".pb-mark-barge").count() == 1  # turn 1: the caller barged in
    rows = page.locator("#conversation-turns tbody tr").all_inner_texts()
    assert "640 ms" in rows[0]
    assert "caller barged in" in rows[0]
    assert "910 ms" in rows[1]
    assert rows[1].rstrip().endswith("no")

    quality = page.locator("#call-quality")
    inbound = quality.locator('tbody[data-direction="inbound"]')
    assert inbound.locator(".pb-level-poor", has_text="3.20").is_visible()  # MOS under 3.5
    assert inbound.locator(".pb-level-good", has_text="12.5 ms").is_visible()
    assert inbound.locator(".pb-level-fair", has_text="0.70 %").is_visible()
    outbound = quality.locator('tbody[data-direction="outbound"]')
    assert "not reported" in outbound.inner_text()  # no MOS for outbound audio
    assert "red under 3.5" in page.locator("#quality-thresholds").inner_text()
    underruns = page.locator("#underruns")
    assert underruns.locator(".pb-level-poor", has_text="2").is_visible()
    assert "Red from 1" in underruns.inner_text()


def test_a_corrupt_recording_says_so_in_place_of_the_waveform(
    page, operator_user, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "bad.wav").write_bytes(b"not a wav at all")
    call = make_call(recording="recordings/bad.wav", status=Call.Status.ENDED)
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")
    page.locator('#waveform[data-state="error"]').wait_for()
    assert "not a WAV file" in page.locator("#waveform-status").inner_text()
