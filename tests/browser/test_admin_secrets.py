"""In Chromium, as a staff user who may only view: nothing a live call's pages show, its
fragments, its payloads opened one by one, its events and its commands, holds the media
token (issue 13, item 8). The call is a real one from the embedded simulator, answered and
streaming over real sockets while the pages are read."""

from __future__ import annotations

import pytest

from calls.models import Call
from tests.browser.conftest import log_in, wait_for_call
from tests.calls.conftest import staff

pytestmark = [pytest.mark.browser]


@pytest.fixture
def issued_tokens(monkeypatch) -> list[str]:
    """Every media token the server issues (the database keeps only their hashes)."""
    tokens: list[str] = []
    issue = Call.issue_media_token

    def spy(self, *, ttl_seconds: int) -> str:
        token = issue(self, ttl_seconds=ttl_seconds)
        tokens.append(token)
        return token

    monkeypatch.setattr(Call, "issue_media_token", spy)
    return tokens


def test_a_view_only_user_sees_no_media_token_on_a_live_calls_pages(
    page, simulated_server, issued_tokens, transactional_db
):
    from telephony.telnyx.embedded import simulate_inbound_call

    viewer = staff("looker", "calls.view_call", "calls.view_callevent", "calls.view_carriercommand")
    simulated_server.run(
        simulate_inbound_call(from_number="+15550108888", to_number="+15550001111", duration_s=30)
    )
    call = wait_for_call(page, from_number="+15550108888")
    for _ in range(100):
        call.refresh_from_db()
        if call.status == Call.Status.STREAMING:
            break
        page.wait_for_timeout(100)
    assert call.status == Call.Status.STREAMING
    [token] = issued_tokens

    log_in(page, viewer)
    seen: dict[str, str] = {}
    page.goto(f"/admin/calls/call/{call.pk}/change/")
    page.locator("#timeline tr", has_text="streaming.started").first.wait_for()
    # Open every payload and request: payloads are fetched from the server on opening.
    for summary in page.locator("#timeline details > summary").all():
        summary.click()
    page.wait_for_function(
        "[...document.querySelectorAll('#timeline details[data-payload-url] pre')]"
        ".every(pre => pre.textContent.length > 0)"
    )
    seen["call page"] = page.content()
    assert f"/telnyx/media/{call.pk}/***" in seen["call page"]  # the URL is shown, redacted

    for name, url in (
        ("live list", "/admin/calls/call/live/"),
        ("live fragments", f"/admin/calls/call/{call.pk}/live/"),
        ("event list", "/admin/calls/callevent/"),
        ("command list", "/admin/calls/carriercommand/"),
    ):
        page.goto(url)
        seen[name] = page.content()
    for event in call.events.all():
        page.goto(f"/admin/calls/callevent/{event.pk}/change/")
        seen[f"event {event.type}"] = page.content()
    for command in call.commands.all():
        page.goto(f"/admin/calls/carriercommand/{command.pk}/change/")
        seen[f"command {command.name}"] = page.content()

    assert "command answer" in seen
    assert [name for name, html in seen.items() if token in html] == []
