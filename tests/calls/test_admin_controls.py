"""Steering a live call from the admin: each control goes through telephony.actions, reports
with message_user and leaves the command logged on the call."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from calls.models import Call
from tests.calls.conftest import make_call

pytestmark = pytest.mark.django_db

LIST = "/admin/calls/call/"


def control(call: Call, action: str) -> str:
    return reverse("admin:calls_call_control", args=[call.pk, action])


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def live_call() -> Call:
    return make_call(status=Call.Status.STREAMING, call_control_id="v3:live-1")


def test_it_hangs_up_and_logs_the_command(operator_client, fake_telnyx, live_call):
    response = operator_client.post(control(live_call, "hangup"))
    assert response["Location"] == reverse("admin:calls_call_change", args=[live_call.pk])
    assert texts(response) == ["Hang-up sent."]
    assert [r.url.path for r in fake_telnyx.requests] == ["/v2/calls/v3:live-1/actions/hangup"]
    command = live_call.commands.get()
    assert (command.name, command.ok) == ("hangup", True)


def test_it_reports_telnyx_errors_without_a_traceback(operator_client, fake_telnyx, live_call):
    fake_telnyx.fail("actions/hangup", 422, "90015", "Invalid call", "The call_control_id is bad.")
    response = operator_client.post(control(live_call, "hangup"))
    assert response.status_code == 302
    assert texts(response) == ["Telnyx error 90015: Invalid call. The call_control_id is bad."]
    command = live_call.commands.get()
    assert (command.ok, command.error_code) == (False, "90015")


def test_it_transfers_to_a_valid_number(operator_client, fake_telnyx, live_call):
    response = operator_client.post(control(live_call, "transfer"), {"to": "+1 555 999 0000"})
    assert texts(response) == ["Transferring to +15559990000."]
    assert fake_telnyx.bodies("actions/transfer")[0]["to"] == "+15559990000"


def test_it_refuses_to_transfer_to_an_invalid_number(operator_client, fake_telnyx, live_call):
    response = operator_client.post(control(live_call, "transfer"), {"to": "12"})
    assert "is not an E.164 phone number" in texts(response)[0]
    assert fake_telnyx.requests == []


def test_it_sends_dtmf(operator_client, fake_telnyx, live_call):
    response = operator_client.post(control(live_call, "dtmf"), {"digits": "12#"})
    assert texts(response) == ["Sent DTMF 12#."]
    assert fake_telnyx.bodies("actions/send_dtmf")[0]["digits"] == "12#"


def test_it_refuses_bad_dtmf_digits(operator_client, fake_telnyx, live_call):
    response = operator_client.post(control(live_call, "dtmf"), {"digits": "12x"})
    assert texts(response) == ["DTMF digits are 0-9, A-D, * and #, with w/W for pauses."]
    assert fake_telnyx.requests == []


def test_it_starts_and_stops_telnyx_recording(operator_client, fake_telnyx, live_call):
    started = operator_client.post(control(live_call, "record-start"))
    assert texts(started) == ["Telnyx recording started."]
    operator_client.get(started["Location"])  # shows, and so uses up, the message
    stopped = operator_client.post(control(live_call, "record-stop"))
    assert texts(stopped) == ["Telnyx recording stopped."]
    assert fake_telnyx.bodies("actions/record_start")[0]["channels"] == "dual"
    assert len(fake_telnyx.bodies("actions/record_stop")) == 1
    assert [c.name for c in live_call.commands.all()] == ["record_start", "record_stop"]


def test_it_does_nothing_to_a_call_that_is_over(operator_client, fake_telnyx):
    call = make_call(status=Call.Status.ENDED)
    response = operator_client.post(control(call, "hangup"))
    assert texts(response) == ["This call is over: there is nothing left to do."]
    assert fake_telnyx.requests == []


def test_it_needs_the_change_permission(viewer_client, fake_telnyx, live_call):
    assert viewer_client.post(control(live_call, "hangup")).status_code == 403
    assert fake_telnyx.requests == []


def test_it_only_acts_on_post(operator_client, live_call):
    assert operator_client.get(control(live_call, "hangup")).status_code == 405


def test_it_knows_only_its_own_controls(operator_client, live_call):
    assert operator_client.post(control(live_call, "explode")).status_code == 404


def test_the_hang_up_action_ends_the_selected_live_calls(operator_client, fake_telnyx, live_call):
    over = make_call(status=Call.Status.ENDED)
    response = operator_client.post(
        LIST, {"action": "hang_up_calls", "_selected_action": [str(live_call.pk), str(over.pk)]}
    )
    assert response.status_code == 302
    assert [r.url.path for r in fake_telnyx.requests] == ["/v2/calls/v3:live-1/actions/hangup"]
    assert texts(response) == [f"{live_call}: hang-up sent."]


def test_the_hang_up_action_reports_each_telnyx_error(operator_client, fake_telnyx, live_call):
    fake_telnyx.fail("actions/hangup", 422, "90015", "Invalid call", "Bad id.")
    response = operator_client.post(
        LIST, {"action": "hang_up_calls", "_selected_action": [str(live_call.pk)]}
    )
    assert texts(response) == [f"{live_call}: Telnyx error 90015: Invalid call. Bad id."]
