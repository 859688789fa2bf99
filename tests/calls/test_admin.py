"""The call list, the call detail page and their permissions, through Django's test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calls.models import Call, CarrierCommand
from tests.calls.conftest import (
    CONVERSATION,
    T0,
    finished_call,
    make_call,
    staff,
    webhook_event,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/calls/call/"


def detail(call: Call) -> str:
    return reverse("admin:calls_call_change", args=[call.pk])


def listed(client: Client, query: str = "") -> set[str]:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200
    return {str(call.pk) for call in response.context["cl"].result_list}


class TestCallList:
    def test_it_shows_status_badges_numbers_and_the_simulated_badge(self, viewer_client):
        make_call(status=Call.Status.STREAMING, simulated=True, from_number="+15551230000")
        html = viewer_client.get(LIST).content.decode()
        assert "pb-status-streaming" in html
        assert "+15551230000" in html
        assert 'class="pb-badge pb-simulated"' in html

    def test_it_shows_duration_and_hangup_cause_of_a_finished_call(self, viewer_client):
        finished_call()
        html = viewer_client.get(LIST).content.decode()
        assert "0:08" in html
        assert "normal_clearing" in html

    def test_it_lists_newest_calls_first(self, viewer_client):
        old = make_call(created_at=T0 - timedelta(hours=1))
        new = make_call(created_at=T0)
        response = viewer_client.get(LIST)
        assert [c.pk for c in response.context["cl"].result_list] == [new.pk, old.pk]

    def test_it_filters_live_calls(self, viewer_client):
        live = make_call(status=Call.Status.RINGING)
        make_call(status=Call.Status.ENDED)
        assert listed(viewer_client, "live=yes") == {str(live.pk)}

    def test_it_filters_by_status_and_direction(self, viewer_client):
        wanted = make_call(status=Call.Status.FAILED, direction=Call.Direction.OUTBOUND)
        make_call(status=Call.Status.FAILED, direction=Call.Direction.INBOUND)
        make_call(status=Call.Status.ENDED, direction=Call.Direction.OUTBOUND)
        assert listed(viewer_client, "status__exact=failed&direction__exact=outbound") == {
            str(wanted.pk)
        }

    def test_it_filters_by_hangup_cause_and_offers_the_causes_seen(self, viewer_client):
        busy = make_call(hangup_cause="user_busy")
        make_call(hangup_cause="normal_clearing")
        response = viewer_client.get(LIST)
        assert "?hangup_cause=user_busy" in response.content.decode()
        assert listed(viewer_client, "hangup_cause=user_busy") == {str(busy.pk)}

    def test_it_filters_calls_with_a_recording(self, viewer_client):
        ours = make_call(recording="recordings/a.wav")
        theirs = make_call(telnyx_recording_urls=[{"recording_id": "r1", "urls": {}}])
        none = make_call()
        assert listed(viewer_client, "recording=yes") == {str(ours.pk), str(theirs.pk)}
        assert listed(viewer_client, "recording=no") == {str(none.pk)}

    def test_it_filters_calls_answered_by_a_machine(self, viewer_client):
        machine = make_call(amd_result="machine")
        human = make_call(amd_result="human_residence")
        unsure = make_call(amd_result="not_sure")
        make_call()
        assert listed(viewer_client, "answered_by=machine") == {str(machine.pk)}
        assert listed(viewer_client, "answered_by=human") == {str(human.pk)}
        assert listed(viewer_client, "answered_by=other") == {str(unsure.pk)}

    def test_it_filters_by_date(self, viewer_client):
        today = make_call(created_at=T0)
        make_call(created_at=T0 - timedelta(days=3))
        day = f"created_at__year={T0.year}&created_at__month={T0.month}&created_at__day={T0.day}"
        assert listed(viewer_client, day) == {str(today.pk)}

    def test_it_finds_a_number_typed_with_spaces_and_dashes(self, viewer_client):
        wanted = make_call(from_number="+15551234567")
        make_call(from_number="+15559876543")
        assert listed(viewer_client, "q=555+123-4567") == {str(wanted.pk)}

    @pytest.mark.parametrize("field", ["call_control_id", "call_leg_id", "call_session_id"])
    def test_it_finds_a_call_by_any_telnyx_id(self, viewer_client, field):
        wanted = make_call(**{field: "v3:abcdef-123"})
        make_call()
        assert listed(viewer_client, "q=abcdef-123") == {str(wanted.pk)}

    def test_it_finds_a_call_by_a_telnyx_recording_id(self, viewer_client):
        wanted = make_call(telnyx_recording_urls=[{"recording_id": "rec-42-xyz", "urls": {}}])
        make_call()
        assert listed(viewer_client, "q=rec-42-xyz") == {str(wanted.pk)}

    def test_it_finds_a_call_by_its_own_id_and_by_a_command_id(self, viewer_client):
        wanted = make_call()
        command = CarrierCommand.objects.create(
            call=wanted, name="hangup", path="x", command_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        )
        make_call()
        assert listed(viewer_client, f"q={wanted.pk}") == {str(wanted.pk)}
        assert listed(viewer_client, f"q={command.command_id}") == {str(wanted.pk)}

    def test_it_has_a_live_calls_panel_that_polls_inside_the_admin(self, viewer_client):
        html = viewer_client.get(LIST).content.decode()
        assert 'id="live-calls"' in html
        assert f'data-url="{reverse("admin:calls_call_live")}"' in html

    def test_it_offers_no_add_button(self, operator_client):
        assert operator_client.get(reverse("admin:calls_call_add")).status_code == 403


class TestWebhookWarning:
    def test_it_warns_on_every_admin_page_when_webhook_signatures_are_not_checked(
        self, viewer_client, settings
    ):
        settings.DEBUG = True
        settings.TELNYX_SKIP_SIGNATURE_VERIFICATION = True
        pages = ("/admin/", LIST, detail(make_call()), "/admin/password_change/")
        for url in pages:
            assert 'id="webhook-verification-warning"' in viewer_client.get(url).content.decode()

    def test_it_warns_on_the_login_page_too(self, client, settings):
        settings.DEBUG = True
        settings.TELNYX_SKIP_SIGNATURE_VERIFICATION = True
        html = client.get("/admin/login/").content.decode()
        assert 'id="webhook-verification-warning"' in html

    def test_it_shows_no_warning_while_signatures_are_checked(self, viewer_client):
        html = viewer_client.get(LIST).content.decode()
        assert "webhook-verification-warning" not in html


class TestCallDetail:
    def test_it_is_read_only_even_for_operators(self, operator_client):
        call = finished_call()
        response = operator_client.get(detail(call))
        assert response.status_code == 200
        assert not response.context["has_change_permission"]
        before = Call.objects.get(pk=call.pk)
        operator_client.post(detail(call), {"status": "ringing"})
        assert Call.objects.get(pk=call.pk).status == before.status

    def test_it_shows_a_timeline_with_offsets_from_the_start(self, viewer_client):
        call = finished_call()
        html = viewer_client.get(detail(call)).content.decode()
        assert 'id="timeline"' in html
        assert "+0:00.000" in html  # call.initiated
        assert "+0:05.000" in html  # the DTMF
        assert "digit 5" in html
        assert "Status → answered" in html
        assert "cause normal_clearing, by caller, SIP 200" in html

    def test_it_shows_telnyx_error_text_for_a_failed_command(self, viewer_client):
        html = viewer_client.get(detail(finished_call())).content.decode()
        assert "Telnyx error 90034 Invalid destination" in html
        assert "The destination number is not reachable." in html
        assert "pb-failed" in html

    def test_it_shows_the_final_transcript_as_a_conversation(self, viewer_client):
        html = viewer_client.get(detail(finished_call())).content.decode()
        transcript = html[html.index('id="transcript"') : html.index("</ol>")]
        agent = transcript.index('class="pb-say pb-agent"')
        caller = transcript.index('class="pb-say pb-caller"')
        assert agent < transcript.index("Hello, how can I help?") < caller
        assert caller < transcript.index("I need an appointment.")
        assert "I need an</p>" not in transcript  # the interim result is left out

    def test_it_shows_media_statistics(self, viewer_client):
        call = finished_call(stream_id="stream-9", frames_in=450, frames_out=440, underruns=2)
        html = viewer_client.get(detail(call)).content.decode()
        assert 'id="media-stats"' in html
        assert "450 / 440" in html

    def test_it_shows_the_conversation_beside_the_media_statistics(self, viewer_client):
        call = finished_call(stream_id="stream-9", frames_in=450, conversation=CONVERSATION)
        html = viewer_client.get(detail(call)).content.decode()
        stats = html[html.index('id="conversation-stats"') :]
        assert "640 ms / 910 ms" in stats
        assert "4.2 s / 7.3 s" in stats  # talk, caller and agent
        assert "1 (3.5 s)" in stats  # one long silence
        assert "caller barged in" in html[html.index('id="conversation-turns"') :]

    def test_it_shows_no_conversation_for_a_call_stored_before_it_was_measured(self, viewer_client):
        call = finished_call(stream_id="stream-9", frames_in=450)
        assert 'id="conversation-stats"' not in viewer_client.get(detail(call)).content.decode()

    def test_it_offers_raw_payloads_on_demand(self, viewer_client):
        call = finished_call()
        event = call.events.get(type="call.dtmf.received")
        url = reverse("admin:calls_call_event_payload", args=[call.pk, event.pk])
        assert url in viewer_client.get(detail(call)).content.decode()
        payload = viewer_client.get(url).json()
        assert payload["data"]["payload"]["digit"] == "5"

    def test_it_refuses_a_payload_through_another_calls_url(self, viewer_client):
        call, other = finished_call(), make_call()
        event = call.events.first()
        url = reverse("admin:calls_call_event_payload", args=[other.pk, event.pk])
        assert viewer_client.get(url).status_code == 404

    def test_it_shows_the_player_for_a_recording(self, viewer_client):
        call = finished_call(recording="recordings/x.wav")
        html = viewer_client.get(detail(call)).content.decode()
        src = reverse("admin:calls_call_recording", args=[call.pk])
        assert f'<audio controls preload="metadata" src="{src}"' in html

    def test_it_offers_controls_on_a_live_call_to_operators_only(
        self, operator_client, viewer_client
    ):
        call = make_call(status=Call.Status.STREAMING)
        assert 'id="hangup-button"' in operator_client.get(detail(call)).content.decode()
        assert 'id="hangup-button"' not in viewer_client.get(detail(call)).content.decode()

    def test_it_offers_no_controls_once_the_call_is_over(self, operator_client):
        html = operator_client.get(detail(finished_call())).content.decode()
        assert 'id="hangup-button"' not in html


class TestLivePolling:
    def test_an_unchanged_list_poll_costs_one_small_query(self, viewer_client):
        make_call(status=Call.Status.STREAMING)
        url = reverse("admin:calls_call_live")
        marker = viewer_client.get(url).json()["marker"]
        with CaptureQueriesContext(connection) as queries:
            answer = viewer_client.get(url, {"since": marker}).json()
        assert answer == {"marker": marker, "changed": False}
        # Besides the admin's login and permission checks, one MAX() over an index.
        ours = [q["sql"] for q in queries if "calls_" in q["sql"]]
        assert len(ours) == 1
        assert "MAX(" in ours[0]
        assert len(queries) <= 5

    def test_a_changed_list_poll_lists_live_and_just_finished_calls(self, viewer_client):
        url = reverse("admin:calls_call_live")
        marker = viewer_client.get(url).json()["marker"]
        live = make_call(status=Call.Status.RINGING)
        answer = viewer_client.get(url, {"since": marker}).json()
        assert answer["changed"]
        assert [c["id"] for c in answer["calls"]] == [str(live.pk)]
        live.mark_ended(at=T0 + timedelta(seconds=5), cause="normal_clearing")
        answer = viewer_client.get(url, {"since": answer["marker"]}).json()
        assert answer["changed"]
        assert [(c["status"], c["live"]) for c in answer["calls"]] == [("ended", False)]

    def test_the_list_poll_leaves_out_calls_finished_long_ago(self, viewer_client):
        make_call(status=Call.Status.ENDED)  # last activity at T0, long before now
        answer = viewer_client.get(reverse("admin:calls_call_live")).json()
        assert answer["calls"] == []

    def test_a_detail_poll_sends_fragments_only_when_something_changed(self, viewer_client):
        call = make_call(status=Call.Status.ANSWERED)
        url = reverse("admin:calls_call_live_detail", args=[call.pk])
        first = viewer_client.get(url).json()
        assert first["changed"]
        assert set(first["fragments"]) == {
            "summary",
            "recording",
            "waveform",
            "transcript",
            "timeline",
            "media",
            "live",
        }
        with CaptureQueriesContext(connection) as queries:
            same = viewer_client.get(url, {"since": first["marker"]}).json()
        assert same == {"marker": first["marker"], "live": True, "poll": True, "changed": False}
        assert len([q for q in queries if "calls_" in q["sql"]]) == 1
        webhook_event(call, "call.dtmf.received", T0 + timedelta(seconds=3), digit="7")
        changed = viewer_client.get(url, {"since": first["marker"]}).json()
        assert changed["changed"]
        assert "digit 7" in changed["fragments"]["timeline"]["html"]

    def test_a_detail_poll_notices_a_command_finishing(self, viewer_client):
        call = make_call(status=Call.Status.ANSWERED)
        command = CarrierCommand.objects.create(call=call, name="hangup", path="x")
        url = reverse("admin:calls_call_live_detail", args=[call.pk])
        marker = viewer_client.get(url).json()["marker"]
        command.ok, command.status_code, command.finished_at = True, 200, T0
        command.save()
        assert viewer_client.get(url, {"since": marker}).json()["changed"]

    def test_a_detail_poll_tells_the_page_to_stop_once_the_call_has_settled(self, viewer_client):
        call = make_call(status=Call.Status.ENDED, ended_at=T0 - timedelta(hours=1))
        answer = viewer_client.get(reverse("admin:calls_call_live_detail", args=[call.pk])).json()
        assert (answer["live"], answer["poll"]) == (False, False)

    def test_polling_needs_the_view_permission(self, db):
        client = Client()
        client.force_login(staff("nobody"))
        call = make_call()
        assert client.get(reverse("admin:calls_call_live")).status_code == 403
        url = reverse("admin:calls_call_live_detail", args=[call.pk])
        assert client.get(url).status_code == 403

    def test_polling_needs_a_staff_login(self, client):
        response = client.get(reverse("admin:calls_call_live"))
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_a_user_who_is_not_staff_cannot_reach_the_console(db):
    user = User.objects.create_user("customer", password="pw")
    client = Client()
    client.force_login(user)
    assert client.get(LIST).status_code == 302
