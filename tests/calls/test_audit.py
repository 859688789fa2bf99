"""Every operator action is kept twice: as an event on the call (its timeline) and as a
Django admin LogEntry (its History page), attributed to the user, whatever the outcome; and
nothing the console shows can be deleted from it."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from calls.models import Call, CallEvent, CarrierCommand
from tests.calls.conftest import finished_call, make_call
from tests.calls.test_admin_dial import dial_form

pytestmark = pytest.mark.django_db

LIST = "/admin/calls/call/"
DIAL = "/admin/calls/call/dial/"


def control(call: Call, action: str) -> str:
    return reverse("admin:calls_call_control", args=[call.pk, action])


def operator_events(call: Call) -> list[dict]:
    events = CallEvent.objects.filter(call=call, source=CallEvent.Source.OPERATOR)
    return [{"type": e.type, **e.payload} for e in events.order_by("id")]


def history(client: Client, call: Call) -> str:
    return client.get(reverse("admin:calls_call_history", args=[call.pk])).content.decode()


@pytest.fixture
def live_call() -> Call:
    return make_call(status=Call.Status.STREAMING, call_control_id="v3:live-audit")


@pytest.mark.parametrize(
    ("action", "data", "expected_params", "shown"),
    [
        ("hangup", {}, {}, "Hung up: sent"),
        ("transfer", {"to": "+15559990000"}, {"to": "+15559990000"}, "Transferred (to +15559990000): sent"),
        ("dtmf", {"digits": "1234#"}, {"digit_count": "5"}, "Sent DTMF (digit_count 5): sent"),
        ("record-start", {}, {}, "Started Telnyx recording: sent"),
        ("record-stop", {}, {}, "Stopped Telnyx recording: sent"),
    ],
)  # fmt: skip
def test_each_control_is_recorded_on_the_call_and_in_its_history(
    operator_client, fake_telnyx, live_call, action, data, expected_params, shown
):
    operator_client.post(control(live_call, action), data)
    (event,) = operator_events(live_call)
    assert event["user"] == "operator"
    assert event["params"] == expected_params
    assert event["outcome"] == "sent"
    entry = LogEntry.objects.get(object_id=str(live_call.pk))
    assert (entry.user.username, entry.get_change_message()) == ("operator", shown)
    assert shown in history(operator_client, live_call)


def test_dtmf_digits_are_counted_never_kept(operator_client, fake_telnyx, live_call):
    operator_client.post(control(live_call, "dtmf"), {"digits": "4921"})
    stored = str(list(CallEvent.objects.values("payload"))) + str(
        list(LogEntry.objects.values("change_message"))
    )
    assert "4921" not in stored


def test_a_refused_action_is_recorded_with_what_telnyx_said(
    operator_client, fake_telnyx, live_call
):
    fake_telnyx.fail("actions/hangup", 422, "90015", "Invalid call", "The call_control_id is bad.")
    operator_client.post(control(live_call, "hangup"))
    (event,) = operator_events(live_call)
    assert event["outcome"] == "Telnyx error 90015: Invalid call. The call_control_id is bad."
    assert "Hung up: Telnyx error 90015" in history(operator_client, live_call)


def test_an_operator_action_appears_in_the_calls_timeline(operator_client, fake_telnyx, live_call):
    operator_client.post(control(live_call, "hangup"))
    page = operator_client.get(reverse("admin:calls_call_change", args=[live_call.pk]))
    timeline = page.content.decode()
    assert "operator.hang_up" in timeline
    assert "user=operator" in timeline


def test_a_dial_is_recorded_on_the_new_call(operator_client, fake_telnyx):
    operator_client.post(DIAL, dial_form(to="+15551234567"))
    call = Call.objects.get()
    (event,) = operator_events(call)
    assert (event["type"], event["user"], event["params"]["to"]) == (
        "operator.dial",
        "operator",
        "+15551234567",
    )
    assert "Dialed (to +15551234567" in history(operator_client, call)


def test_a_dial_telnyx_never_answered_says_no_response_not_refused(operator_client, fake_telnyx):
    for _ in range(4):  # every attempt the client makes
        fake_telnyx.time_out("/calls")
    response = operator_client.post(DIAL, dial_form(), follow=True)
    call = Call.objects.get()
    page = response.content.decode()
    assert "No response from Telnyx when dialing (ConnectTimeout)." in page
    assert "refused" not in page.lower()
    assert call.failure_reason == "No response from Telnyx when dialing (ConnectTimeout)."
    assert operator_events(call)[0]["outcome"] == call.failure_reason


def test_a_dial_telnyx_refused_says_refused(operator_client, fake_telnyx):
    fake_telnyx.fail("/calls", 422, "10010", "Invalid destination", "It cannot be reached.")
    operator_client.post(DIAL, dial_form())
    call = Call.objects.get()
    assert call.failure_reason == (
        "Telnyx refused the call: Telnyx error 10010: Invalid destination. It cannot be reached."
    )


def test_dial_again_and_the_bulk_hang_up_are_recorded(operator_client, fake_telnyx, live_call):
    done = finished_call()
    operator_client.post(LIST, {"action": "dial_again", "_selected_action": [str(done.pk)]})
    operator_client.post(LIST, {"action": "hang_up_calls", "_selected_action": [str(live_call.pk)]})
    assert [e["type"] for e in operator_events(done)] == ["operator.dial_again"]
    assert [e["type"] for e in operator_events(live_call)] == ["operator.hang_up"]


def test_an_action_refused_for_lack_of_permission_records_nothing(
    viewer_client, fake_telnyx, live_call
):
    # A viewer may not steer calls: nothing is sent, so nothing is recorded.
    assert viewer_client.post(control(live_call, "hangup")).status_code == 403
    assert operator_events(live_call) == []


# Nothing is deleted from the console ------------------------------------------------------


@pytest.fixture
def superuser_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def test_not_even_a_superuser_can_delete_a_call_an_event_or_a_command(superuser_client):
    call = finished_call()
    event = call.events.first()
    command = CarrierCommand.objects.filter(call=call).first()
    for model, pk in (("call", call.pk), ("callevent", event.pk), ("carriercommand", command.pk)):
        assert superuser_client.get(f"/admin/calls/{model}/{pk}/delete/").status_code == 403
        page = superuser_client.get(f"/admin/calls/{model}/").content.decode()
        assert 'value="delete_selected"' not in page
    response = superuser_client.post(
        LIST, {"action": "delete_selected", "_selected_action": [str(call.pk)], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert Call.objects.filter(pk=call.pk).exists()
    assert CallEvent.objects.filter(pk=event.pk).exists()
