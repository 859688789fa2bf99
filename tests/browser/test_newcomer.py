"""README's Quick start in Chromium: `manage.py runserver` on a port other than 8000, the local
admin login, "Simulate inbound call", and a test dial whose far end the operator chooses."""

from __future__ import annotations

import pytest

from tests.services import dev_server

pytestmark = [pytest.mark.browser]


@pytest.fixture
def newcomer_page(browser):
    with dev_server() as server:
        context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(20_000)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()


def log_in_as_local_admin(page) -> None:
    page.goto("/")  # the site's root leads to the console, through the login page
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/calls/call/")


def test_a_simulated_call_rings_streams_and_ends_on_a_server_on_any_port(newcomer_page):
    page = newcomer_page
    log_in_as_local_admin(page)

    caller = page.locator("#simulate-form input[name=from_number]").get_attribute("value")
    page.click("#simulate-button")
    page.locator(".messagelist", has_text=f"Simulated call from {caller}").wait_for()

    row = page.locator("#live-calls tr", has_text=caller)
    row.locator(".pb-status-streaming").wait_for(timeout=30_000)
    row.locator(".pb-status-ended").wait_for(timeout=40_000)
    assert "normal_clearing" in row.inner_text()


def test_a_test_dial_meets_the_far_end_the_operator_chose(newcomer_page):
    page = newcomer_page
    log_in_as_local_admin(page)
    page.click("#dial-button")
    page.fill("#id_to", "+15557654321")
    # Both embedded simulators are on: each carrier's number, Telnyx's (the default) first.
    assert page.locator("#id_from_number option").all_inner_texts() == [
        "+15550100000",
        "+15550001111",
    ]
    assert page.input_value("#id_from_number") == "+15550100000"
    page.select_option("#id_far_end", "busy")
    page.click("#dial-submit")

    page.wait_for_url("**/admin/calls/call/*/change/")
    page.locator(".messagelist", has_text="Dialing +15557654321").wait_for()
    page.get_by_text("user_busy").first.wait_for(timeout=30_000)
