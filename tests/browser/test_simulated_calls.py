"""End to end in Chromium: a carrier's embedded simulator (Telnyx's, then Twilio's) rings
phonebridge over real sockets (signed webhooks, the answer, the media WebSocket, the echo
bridge, the recording) while an operator watches and steers the calls from the admin."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from calls.models import Call
from tests.browser.conftest import TWILIO_NUMBER, log_in, wait_for_call

pytestmark = [pytest.mark.browser]

LIVE = ".pb-status-ringing, .pb-status-answered, .pb-status-streaming"
# What each carrier's timeline shows for a whole inbound call, in order of arrival.
INBOUND_STEPS = {
    "telnyx": ("call.initiated", "→ answer", "streaming.started", "call.hangup"),
    "twilio": (
        "Twilio: incoming call",
        "Twilio: stream started",
        "Twilio: completed",
        "CallDuration",
    ),
}
OUR_NUMBER = {"telnyx": "+15550001111", "twilio": TWILIO_NUMBER}


def simulator(carrier: str) -> ModuleType:
    """The carrier's embedded simulator adapter (telephony.<carrier>.embedded)."""
    return importlib.import_module(f"telephony.{carrier}.embedded")


def test_a_simulated_call_comes_and_goes_on_the_open_list_and_tells_its_story(
    page, operator_user, carrier, carrier_server, artifacts, settings
):
    settings.TRANSCRIBE_CALLS = True  # as with the simulator in development
    log_in(page, operator_user)
    caller = page.locator("#simulate-form input[name=from_number]").get_attribute("value")
    page.click("#simulate-button")
    page.locator(".messagelist", has_text=f"Simulated call from {caller}").wait_for()

    # No reload from here on: the live panel shows the call while it lives, then its end.
    row = page.locator("#live-calls tr", has_text=caller)
    row.locator(".pb-status-streaming").wait_for(timeout=20_000)
    call = wait_for_call(page, from_number=caller)
    row.locator(".pb-status-ended").wait_for(timeout=30_000)
    assert "normal_clearing" in row.inner_text()
    assert row.locator(f".pb-carrier-{carrier}").count() == 1
    assert call.carrier == carrier

    row.locator("a").click()
    page.wait_for_url(f"**/admin/calls/call/{call.pk}/change/")
    timeline = page.locator("#timeline")
    for step in (*INBOUND_STEPS[carrier], "Status → ended"):
        timeline.locator("tr", has_text=step).first.wait_for()
    assert page.locator(f"#call-carrier .pb-carrier-{carrier}").count() == 1
    if carrier == "twilio":  # Twilio calls have no carrier transcription: said so
        page.locator("#transcript-unsupported").wait_for()
        page.locator("#quality-not-reported", has_text="not reported by Twilio").wait_for()
    else:
        said = page.locator("#transcript li")
        said.first.wait_for()
        texts = said.all_inner_texts()
        assert any(t.startswith("Caller") and "Hello, can you hear me?" in t for t in texts)
        assert any(t.startswith("Agent") and "book an appointment" in t for t in texts)

    # The recording is written when the stream ends; the page picks it up by polling.
    page.locator("#call-recording").wait_for(timeout=15_000)
    page.wait_for_function("document.querySelector('#call-recording').readyState >= 1")
    assert page.evaluate("document.querySelector('#call-recording').duration") > 2
    status = page.evaluate(
        """async () => {
            const src = document.querySelector('#call-recording').src;
            const r = await fetch(src, {headers: {Range: 'bytes=0-99'}});
            return r.status;
        }"""
    )
    assert status == 206
    page.locator("#media-stats").wait_for()
    page.screenshot(path=str(artifacts / f"simulated-{carrier}-call-detail.png"), full_page=True)


def test_an_operator_hangs_up_a_simulated_call(page, operator_user, carrier, carrier_server):
    ring = simulator(carrier).simulate_inbound_call
    carrier_server.run(
        ring(from_number="+15550107777", to_number=OUR_NUMBER[carrier], duration_s=60)
    )
    call = wait_for_call(page, from_number="+15550107777")
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")
    page.locator('[data-fragment="summary"]').locator(LIVE).wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#hangup-button")
    page.locator(".messagelist", has_text="Hang-up sent.").wait_for()
    # The carrier confirms (Telnyx's call.hangup, Twilio's completed); the open page follows.
    page.locator('[data-fragment="summary"] .pb-status-ended').wait_for(timeout=30_000)
    page.locator("#call-controls").wait_for(state="hidden")
    assert page.locator("#timeline tr", has_text="→ hangup").count() == 1
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED


def test_dialing_through_the_simulator_lands_on_the_live_call(
    page, operator_user, carrier, carrier_server
):
    log_in(page, operator_user)
    page.click("#dial-button")
    page.select_option("#id_from_number", OUR_NUMBER[carrier])
    page.fill("#id_to", "+15553334444")
    page.fill("#id_greeting", "Hi, this is a test call.")
    page.click("#dial-submit")
    page.wait_for_url("**/admin/calls/call/*/change/")
    call = Call.objects.get(to_number="+15553334444")
    assert call.custom_data == {"greeting": "Hi, this is a test call."}
    assert (call.carrier, call.from_number) == (carrier, OUR_NUMBER[carrier])
    summary = page.locator('[data-fragment="summary"]')
    summary.locator(".pb-status-answered, .pb-status-streaming").wait_for(timeout=15_000)
    summary.locator(".pb-status-ended").wait_for(timeout=30_000)
    assert page.locator("#timeline tr", has_text="→ dial").count() == 1
