"""Finding calls in the history: duration sort and ranges, a date range in the server's time
zone, search across causes, failures and id prefixes, newest-first event and command lists
with millisecond times, and failure stories shortened in the list but whole on hover."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.utils import timezone

from calls.models import Call, CallEvent, CarrierCommand
from tests.calls.conftest import T0, make_call

pytestmark = pytest.mark.django_db

LIST = "/admin/calls/call/"


def listed(client, **query: str) -> list[str]:
    response = client.get(LIST, query)
    assert response.status_code == 200
    return [str(call.pk) for call in response.context["cl"].result_list]


def talked(seconds: float, **fields) -> Call:
    return make_call(
        status=Call.Status.ENDED,
        answered_at=T0,
        ended_at=T0 + timedelta(seconds=seconds),
        **fields,
    )


def test_the_list_sorts_by_duration(viewer_client):
    medium, short, long = talked(90), talked(5), talked(600)
    unanswered = make_call(status=Call.Status.MISSED)
    by_duration = listed(viewer_client, o="7")  # the seventh column, Duration
    answered = [pk for pk in by_duration if pk != str(unanswered.pk)]
    assert answered == [str(short.pk), str(medium.pk), str(long.pk)]
    assert listed(viewer_client, o="-7")[:3] != answered[:3]


@pytest.mark.parametrize(
    ("range_", "expected"),
    [("lt10s", [5]), ("10s-1m", [30]), ("1m-5m", [90]), ("5m-30m", [600]), ("gt30m", [3600])],
)
def test_the_list_filters_by_duration_ranges(viewer_client, range_, expected):
    calls = {seconds: talked(seconds) for seconds in (5, 30, 90, 600, 3600)}
    make_call(status=Call.Status.MISSED)
    assert listed(viewer_client, duration=range_) == [str(calls[s].pk) for s in expected]


def test_the_duration_filter_finds_calls_without_a_conversation(viewer_client):
    talked(30)
    missed = make_call(status=Call.Status.MISSED, ended_at=T0)
    assert listed(viewer_client, duration="none") == [str(missed.pk)]


def test_the_date_range_counts_whole_days_in_the_servers_time_zone(viewer_client, settings):
    settings.TIME_ZONE = "America/New_York"
    zone = ZoneInfo("America/New_York")
    # 23:30 on 1 March in New York is already 2 March in UTC.
    late = make_call(created_at=datetime(2026, 3, 1, 23, 30, tzinfo=zone))
    early = make_call(created_at=datetime(2026, 3, 1, 0, 15, tzinfo=zone))
    make_call(created_at=datetime(2026, 3, 2, 0, 5, tzinfo=zone))
    make_call(created_at=datetime(2026, 2, 28, 23, 59, tzinfo=zone))
    found = listed(viewer_client, created_from="2026-03-01", created_to="2026-03-01")
    assert sorted(found) == sorted([str(late.pk), str(early.pk)])
    assert len(listed(viewer_client, created_from="2026-03-01")) == 3
    assert len(listed(viewer_client, created_to="2026-03-01")) == 3


def test_a_date_that_is_not_a_date_is_a_clear_message_and_filters_nothing(viewer_client):
    make_call()
    response = viewer_client.get(LIST, {"created_from": "yesterday"})
    assert response.status_code == 200
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == [
        "“yesterday” is not a date: use YYYY-MM-DD. The date range was not applied."
    ]
    assert len(response.context["cl"].result_list) == 1


def test_the_date_range_form_keeps_the_other_filters_and_the_search(viewer_client):
    page = viewer_client.get(LIST, {"q": "+1555", "status__exact": "ended"}).content.decode()
    form = page[page.index('id="date-range-filter"') :]
    form = form[: form.index("</form>")]
    assert '<input type="hidden" name="q" value="+1555">' in form
    assert '<input type="hidden" name="status__exact" value="ended">' in form


def test_search_finds_a_hangup_cause_and_words_of_a_failure(viewer_client):
    busy = make_call(hangup_cause="user_busy", status=Call.Status.BUSY)
    failed = make_call(status=Call.Status.FAILED, failure_reason="agent server full (429)")
    make_call()
    assert listed(viewer_client, q="user_busy") == [str(busy.pk)]
    assert listed(viewer_client, q="server full") == [str(failed.pk)]


def test_search_finds_a_call_by_the_first_characters_of_its_id(viewer_client):
    call = make_call()
    make_call()
    assert listed(viewer_client, q=str(call.pk)[:8]) == [str(call.pk)]
    assert listed(viewer_client, q=str(call.pk)[:13]) == [str(call.pk)]  # with the hyphen


def test_search_finds_a_call_by_the_first_characters_of_a_command_id(viewer_client):
    call, other = make_call(), make_call()
    command_id = uuid.uuid4()
    while str(command_id)[:8] in (str(call.pk)[:8], str(other.pk)[:8]):
        command_id = uuid.uuid4()
    CarrierCommand.objects.create(call=call, name="answer", path="x", command_id=command_id)
    assert listed(viewer_client, q=str(command_id)[:8]) == [str(call.pk)]


def test_the_list_names_its_time_zone(viewer_client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    make_call(created_at=datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("UTC")))
    page = viewer_client.get(LIST).content.decode()
    assert "Started (Europe/Paris)" in page
    assert "2026-07-01\u00a012:00:00" in page  # shown in Paris time, summer offset +2


def test_a_long_failure_is_shortened_with_an_ellipsis_and_whole_on_hover(viewer_client):
    reason = "agent server full: " + "the agent server answered 429 Too Many Requests " * 3
    call = make_call(status=Call.Status.FAILED, failure_reason=reason.strip())
    page = viewer_client.get(LIST).content.decode()
    cell = re.search(r'<span class="pb-outcome pb-error" title="([^"]*)">([^<]*)</span>', page)
    assert cell is not None
    whole, shown = cell.groups()
    assert whole == f"Failed: {reason.strip()}"
    assert shown.endswith("…")
    assert len(shown) <= 60
    detail = viewer_client.get(f"{LIST}{call.pk}/change/").content.decode()
    assert reason.strip() in detail


def test_events_and_commands_are_listed_newest_first_to_the_millisecond(viewer_client, settings):
    settings.TIME_ZONE = "UTC"
    call = make_call()
    at = timezone.now().replace(microsecond=123456)
    for offset in (0, 1, 2):
        CallEvent.objects.create(
            call=call,
            event_id=f"e{offset}",
            type=f"t{offset}",
            occurred_at=at + timedelta(seconds=offset),
        )
    viewer = viewer_client
    user = User.objects.get(username="viewer")
    for codename in ("view_callevent", "view_carriercommand"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    response = viewer.get("/admin/calls/callevent/")
    types = [event.type for event in response.context["cl"].result_list]
    assert types == ["t2", "t1", "t0"]
    assert f"{at:%Y-%m-%d}\u00a0{at:%H:%M:%S}.123" in response.content.decode()
    assert "Occurred (UTC)" in response.content.decode()
    CarrierCommand.objects.create(call=call, name="first", path="x", created_at=at)
    CarrierCommand.objects.create(
        call=call, name="second", path="x", created_at=at + timedelta(seconds=1)
    )
    response = viewer.get("/admin/calls/carriercommand/")
    assert [c.name for c in response.context["cl"].result_list] == ["second", "first"]
