"""The Dial page in Chromium, against the embedded simulator on a live server."""

from __future__ import annotations

import pytest

from calls.models import Call
from telephony.telnyx import owned_numbers
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser]

LONG_PASTE = "+1 (555) 123-4567, ask for the front desk after five o'clock please"


@pytest.fixture(autouse=True)
def _numbers(settings):
    settings.TELNYX_FROM_NUMBERS = ["+15550100002"]
    settings.DEFAULT_COUNTRY = "US"
    owned_numbers.forget_owned_numbers()
    yield
    owned_numbers.forget_owned_numbers()


def test_a_pasted_number_is_kept_whole_and_refused_with_a_reason(
    page, operator_user, simulated_server
):
    log_in(page, operator_user)
    page.goto("/admin/calls/call/dial/")
    page.locator("#id_to").focus()
    page.keyboard.insert_text(LONG_PASTE)  # as a paste: no maxlength cuts it

    assert page.input_value("#id_to") == LONG_PASTE
    page.click("#dial-submit")
    page.locator(".errorlist", has_text="at most 32 characters").wait_for()
    assert page.input_value("#id_to") == LONG_PASTE
    assert not Call.objects.exists()


def test_a_national_number_from_a_chosen_number_reaches_a_far_end_that_presses_keys(
    page, operator_user, simulated_server
):
    log_in(page, operator_user)
    page.goto("/admin/calls/call/dial/")
    options = page.locator("#id_from_number option").all_inner_texts()
    assert options == ["+15550001111", "+15550100002"]
    page.fill("#id_to", "(555) 765-4321")
    page.select_option("#id_from_number", "+15550100002")
    page.select_option("#id_far_end", "answers")
    page.fill("#id_far_end_keys", "42")
    page.click("#dial-submit")

    page.wait_for_url("**/admin/calls/call/*/change/")
    call = Call.objects.get()
    assert (call.to_number, call.from_number) == ("+15557654321", "+15550100002")
    timeline = page.locator("#timeline")
    timeline.locator("tr", has_text="call.dtmf.received").first.wait_for(timeout=30_000)
    timeline.locator("tr", has_text="call.hangup").first.wait_for(timeout=30_000)
