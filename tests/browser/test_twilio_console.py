"""A Twilio call in the console, in Chromium, against the embedded Twilio simulator over real
sockets: hung up from the live panel, its recording and waveform, Twilio's words on the
timeline, the Dial page's From numbers grouped by carrier with a simulated far end, and the
list's carrier filter and CallSid search."""

from __future__ import annotations

import pytest

from calls.models import Call
from telephony.twilio import embedded
from tests.browser.conftest import TWILIO_NUMBER, log_in, wait_for_call
from tests.calls.conftest import make_call

pytestmark = [pytest.mark.browser]


def test_an_operator_hangs_up_a_live_twilio_call_from_the_panel_and_plays_it_back(
    page, operator_user, twilio_simulated_server, artifacts
):
    twilio_simulated_server.run(
        embedded.simulate_inbound_call(
            from_number="+15550108888", to_number=TWILIO_NUMBER, duration_s=60
        )
    )
    call = wait_for_call(page, from_number="+15550108888")
    log_in(page, operator_user)
    row = page.locator("#live-calls tr", has_text="+15550108888")
    row.locator(".pb-status-streaming").wait_for(timeout=20_000)
    assert row.locator(".pb-carrier-twilio").inner_text() == "Twilio"
    page.wait_for_timeout(2500)  # a couple of seconds of audio to record and draw
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.pb-hangup").click()
    page.locator("#live-calls-note.pb-note-success", has_text="Hang-up sent.").wait_for()
    # Twilio (the simulator) confirms with its completed callback; the panel follows.
    page.locator("#live-calls tr.pb-finished", has_text="+15550108888").wait_for(timeout=30_000)

    page.goto(f"/admin/calls/call/{call.pk}/change/")
    timeline = page.locator("#timeline")
    hangup = timeline.locator("tr", has_text="→ hangup")
    hangup.wait_for()
    assert f"POST 2010-04-01/Accounts/{call_account()}/Calls/{call.call_control_id}.json" in (
        hangup.inner_text()
    )
    for step in ("Twilio: incoming call", "Twilio: stream started", "Twilio: completed"):
        timeline.locator("tr", has_text=step).first.wait_for()
    # The payload is Twilio's form, opened on demand.
    completed = timeline.locator("tr", has_text="Twilio: completed").first
    completed.locator("summary", has_text="payload").click()
    completed.locator("pre", has_text='"CallStatus": "completed"').wait_for()

    page.locator("#call-recording").wait_for(timeout=15_000)
    page.locator('#waveform[data-state="drawn"]').wait_for(timeout=15_000)
    assert float(page.get_attribute("#waveform", "data-duration")) > 1
    page.screenshot(path=str(artifacts / "twilio-call-detail.png"), full_page=True)


def call_account() -> str:
    from django.conf import settings

    return str(settings.TWILIO_ACCOUNT_SID)


def test_the_dial_page_groups_from_numbers_by_carrier_and_a_twilio_far_end_is_busy(
    page, operator_user, twilio_simulated_server
):
    log_in(page, operator_user)
    page.goto("/admin/calls/call/dial/")
    groups = page.locator("#id_from_number optgroup")
    assert [groups.nth(i).get_attribute("label") for i in range(groups.count())] == [
        "Twilio",
        "Telnyx",
    ]
    assert page.input_value("#id_from_number") == TWILIO_NUMBER  # PHONEBRIDGE_CARRIER's first
    assert "Twilio: from the embedded Twilio simulator" in page.inner_text(".field-from_number")
    page.fill("#id_to", "+15553335555")
    page.select_option("#id_far_end", "busy")
    page.click("#dial-submit")

    page.wait_for_url("**/admin/calls/call/*/change/")
    call = Call.objects.get(to_number="+15553335555")
    assert call.carrier == Call.Carrier.TWILIO
    summary = page.locator('[data-fragment="summary"]')
    summary.locator(".pb-status-busy").wait_for(timeout=30_000)
    page.locator("#call-outcome", has_text="Busy: +15553335555 was busy").wait_for()
    page.locator("#timeline tr", has_text="Twilio: busy").wait_for()
    assert page.locator("#timeline tr", has_text="→ dial").count() == 1

    # "Dial again" keeps the call's carrier: the form comes back with its Twilio number.
    page.goto("/admin/calls/call/")
    page.locator(f"input.action-select[value='{call.pk}']").check()
    page.select_option("select[name=action]", "dial_again")
    page.click("button[name=index]")
    page.wait_for_url("**/admin/calls/call/dial/?*")
    assert page.input_value("#id_from_number") == TWILIO_NUMBER
    assert page.input_value("#id_to") == "+15553335555"


def test_the_list_filters_by_carrier_and_finds_a_callsid_by_its_start(page, operator_user):
    sid = "CA" + "c0ffee" * 5 + "00"
    make_call(carrier=Call.Carrier.TWILIO, call_control_id=sid, from_number="+15550201111")
    make_call(from_number="+15550202222")
    log_in(page, operator_user)
    page.locator("#changelist-filter a", has_text="Twilio").click()
    page.wait_for_url("**carrier__exact=twilio**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "+15550201111" in rows.inner_text()
    assert rows.locator(".pb-carrier-twilio").count() == 1

    page.goto("/admin/calls/call/")
    page.fill("#searchbar", sid[:12])
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "+15550201111" in rows.inner_text()
