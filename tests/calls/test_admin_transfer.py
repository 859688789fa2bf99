"""Transferring a live call dials a new, billed leg: it takes the dial permission (issue 13,
item 11), not just the right to steer a call."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from calls.models import Call
from tests.calls.conftest import make_call, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def steerer() -> Client:
    """May steer live calls (hang up, DTMF, recording) but not dial."""
    client = Client()
    client.force_login(staff("steerer", "calls.view_call", "calls.change_call"))
    return client


@pytest.fixture
def live_call() -> Call:
    return make_call(status=Call.Status.STREAMING, call_control_id="v3:live-transfer")


def transfer_url(call: Call) -> str:
    return reverse("admin:calls_call_control", args=[call.pk, "transfer"])


def test_a_user_without_the_dial_permission_cannot_transfer_a_call(steerer, fake_telnyx, live_call):
    response = steerer.post(transfer_url(live_call), {"to": "+19005550100"})
    assert response.status_code == 403
    assert fake_telnyx.requests == []
    assert not live_call.commands.exists()


def test_the_transfer_form_is_shown_only_to_users_who_may_dial(steerer, operator_client, live_call):
    page = reverse("admin:calls_call_change", args=[live_call.pk])
    steering = steerer.get(page).content.decode()
    assert 'id="hangup-button"' in steering  # the other controls are there
    assert 'id="transfer-button"' not in steering
    assert 'id="transfer-button"' in operator_client.get(page).content.decode()


def test_a_user_who_may_dial_still_transfers(operator_client, fake_telnyx, live_call):
    response = operator_client.post(transfer_url(live_call), {"to": "+15559990000"})
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Transferring to +15559990000."
    ]
    assert fake_telnyx.bodies("actions/transfer")[0]["to"] == "+15559990000"


def test_the_other_controls_still_need_only_the_change_permission(steerer, fake_telnyx, live_call):
    response = steerer.post(reverse("admin:calls_call_control", args=[live_call.pk, "hangup"]))
    assert response.status_code == 302
    assert [r.url.path for r in fake_telnyx.requests] == [
        "/v2/calls/v3:live-transfer/actions/hangup"
    ]
