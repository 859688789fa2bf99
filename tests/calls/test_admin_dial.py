"""The Dial page, the "Dial again" action and the simulator button."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from calls.models import Call
from telephony.telnyx import embedded, owned_numbers
from tests.calls.conftest import make_call
from tests.fake_telnyx import FakeTelnyx

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _our_numbers(settings):
    """The numbers we own come from settings here; the fetched list is tested on its own."""
    settings.TELNYX_FROM_NUMBERS = ["+15550002222"]
    settings.DEFAULT_COUNTRY = ""
    owned_numbers.forget_owned_numbers()
    yield
    owned_numbers.forget_owned_numbers()


DIAL = "/admin/calls/call/dial/"
LIST = "/admin/calls/call/"


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def dial_form(**fields: str) -> dict[str, str]:
    return {"to": "+15551234567", "from_number": "+15550001111", "amd": "", **fields}


class TestDialPage:
    def test_it_is_offered_to_operators_with_the_dial_permission(self, operator_client):
        assert 'id="dial-button"' in operator_client.get(LIST).content.decode()
        assert operator_client.get(DIAL).status_code == 200

    def test_it_is_hidden_from_and_refused_to_staff_without_the_permission(self, viewer_client):
        assert 'id="dial-button"' not in viewer_client.get(LIST).content.decode()
        assert viewer_client.get(DIAL).status_code == 403
        assert viewer_client.post(DIAL, dial_form()).status_code == 403

    def test_from_defaults_to_our_telnyx_number(self, operator_client, settings):
        settings.TELNYX_PHONE_NUMBER = "+15550002222"
        form = operator_client.get(DIAL).context["form"]
        assert form["from_number"].value() == "+15550002222"

    def test_it_offers_the_answering_machine_detection_modes(self, operator_client):
        html = operator_client.get(DIAL).content.decode()
        for mode in ("detect", "detect_beep", "premium"):
            assert f'<option value="{mode}">' in html

    def test_it_explains_an_invalid_number_and_dials_nothing(self, operator_client, fake_telnyx):
        response = operator_client.post(DIAL, dial_form(to="555-1234"))
        assert response.status_code == 200
        assert "is not an E.164 phone number" in response.content.decode()
        assert response.context["form"].errors["to"]
        assert fake_telnyx.requests == []
        assert not Call.objects.exists()

    def test_it_dials_and_lands_on_the_new_call(self, operator_client, fake_telnyx):
        response = operator_client.post(
            DIAL,
            dial_form(
                to="+1 555 123 4567", amd="premium", greeting="Hi!", instructions="Be brief."
            ),
        )
        call = Call.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:calls_call_change", args=[call.pk])
        (body,) = fake_telnyx.bodies("/calls")
        assert (body["to"], body["from"]) == ("+15551234567", "+15550001111")
        assert body["answering_machine_detection"] == "premium"
        assert call.custom_data == {
            "greeting": "Hi!",
            "instructions": "Be brief.",
            "amd": "premium",
        }
        assert call.call_control_id == "v3:dialed-1"
        assert texts(response) == ["Dialing +15551234567 from +15550001111."]

    def test_it_reports_a_telnyx_refusal_and_still_shows_the_failed_call(
        self, operator_client, fake_telnyx
    ):
        fake_telnyx.fail(
            "/calls", 422, "10010", "Invalid destination", "+15551234567 cannot be reached."
        )
        response = operator_client.post(DIAL, dial_form())
        call = Call.objects.get()
        assert response["Location"] == reverse("admin:calls_call_change", args=[call.pk])
        (message,) = texts(response)
        assert "10010" in message
        assert "+15551234567 cannot be reached." in message
        assert call.status == Call.Status.FAILED
        assert call.commands.get().error_code == "10010"


class TestDialAgain:
    def action(self, client, *calls: Call, name: str = "dial_again"):
        ids = [str(c.pk) for c in calls]
        return client.post(LIST, {"action": name, "_selected_action": ids})

    def test_it_prefills_the_dial_page_to_call_the_caller_back(self, operator_client):
        call = make_call(
            direction=Call.Direction.INBOUND,
            from_number="+15557654321",
            to_number="+15550001111",
            custom_data={"greeting": "Welcome back", "amd": "detect"},
        )
        response = self.action(operator_client, call)
        assert response.status_code == 302
        form = operator_client.get(response["Location"]).context["form"]
        assert form["to"].value() == "+15557654321"
        assert form["from_number"].value() == "+15550001111"
        assert form["greeting"].value() == "Welcome back"
        assert form["amd"].value() == "detect"

    def test_it_redials_the_same_number_for_an_outbound_call(self, operator_client):
        call = make_call(
            direction=Call.Direction.OUTBOUND, from_number="+15550001111", to_number="+15553334444"
        )
        response = self.action(operator_client, call)
        assert "to=%2B15553334444" in response["Location"]

    def test_it_asks_for_one_call_at_a_time(self, operator_client):
        response = self.action(operator_client, make_call(), make_call())
        assert response.status_code == 302
        assert response["Location"] == LIST
        assert texts(response) == ["Choose one call to dial again."]

    def test_it_is_not_offered_without_the_dial_permission(self, viewer_client):
        actions = viewer_client.get(LIST).context["action_form"].fields["action"].choices
        assert "dial_again" not in dict(actions)


class TestSimulateButton:
    def test_it_is_hidden_unless_the_simulator_is_on(self, operator_client, settings):
        settings.TELNYX_SIMULATOR = False
        assert 'id="simulate-button"' not in operator_client.get(LIST).content.decode()
        assert operator_client.post("/admin/calls/call/simulate/").status_code == 404

    def test_it_starts_a_simulated_inbound_call(self, operator_client, settings, monkeypatch):
        settings.TELNYX_SIMULATOR = True
        settings.TELNYX_PHONE_NUMBER = "+15550001111"
        started = []

        async def simulate_inbound_call(*, from_number, to_number, duration_s=8.0):
            started.append((from_number, to_number, duration_s))

        monkeypatch.setattr(embedded, "simulate_inbound_call", simulate_inbound_call)
        assert 'id="simulate-button"' in operator_client.get(LIST).content.decode()
        response = operator_client.post(
            "/admin/calls/call/simulate/", {"from_number": "+15550104242"}
        )
        assert response["Location"] == LIST
        assert started == [("+15550104242", "+15550001111", 8.0)]
        assert "Simulated call from +15550104242" in texts(response)[0]

    def test_it_needs_the_dial_permission(self, viewer_client, settings):
        settings.TELNYX_SIMULATOR = True
        response = viewer_client.post("/admin/calls/call/simulate/", {"from_number": "+1555"})
        assert response.status_code == 403


class TestFromNumbers:
    def test_from_is_a_choice_of_the_numbers_we_own(self, operator_client):
        field = operator_client.get(DIAL).context["form"].fields["from_number"]
        assert [value for value, _ in field.choices] == ["+15550001111", "+15550002222"]
        assert "TELNYX_FROM_NUMBERS" in field.help_text

    def test_a_number_we_do_not_own_is_refused(self, operator_client, fake_telnyx):
        response = operator_client.post(DIAL, dial_form(from_number="+15559999999"))
        assert response.context["form"].errors["from_number"]
        assert fake_telnyx.requests == []

    def test_with_a_key_and_no_list_the_numbers_come_from_telnyx(
        self, operator_client, settings, monkeypatch
    ):
        settings.TELNYX_FROM_NUMBERS = []
        fake = FakeTelnyx()
        listed = {"data": [{"phone_number": "+15550003333"}, {"phone_number": "+15550001111"}]}
        fake.responses["phone_numbers"] = [(200, listed, {})]
        monkeypatch.setattr(owned_numbers, "get_client", fake.client)

        field = operator_client.get(DIAL).context["form"].fields["from_number"]
        operator_client.get(DIAL)  # a second page load is served from the cache

        assert [value for value, _ in field.choices] == ["+15550001111", "+15550003333"]
        assert "your Telnyx account" in field.help_text
        assert [r.url.path for r in fake.requests] == ["/v2/phone_numbers"]

    def test_when_telnyx_cannot_list_them_our_configured_number_is_offered(
        self, operator_client, settings, monkeypatch
    ):
        settings.TELNYX_FROM_NUMBERS = []
        fake = FakeTelnyx()
        fake.fail("phone_numbers", 401, "10009", "Authentication failed", "Bad key.")
        monkeypatch.setattr(owned_numbers, "get_client", fake.client)

        field = operator_client.get(DIAL).context["form"].fields["from_number"]

        assert [value for value, _ in field.choices] == ["+15550001111"]
        assert "10009" in field.help_text


class TestTypedNumbers:
    def test_a_national_number_is_read_with_the_default_country(
        self, operator_client, settings, fake_telnyx
    ):
        settings.DEFAULT_COUNTRY = "GB"
        operator_client.post(DIAL, dial_form(to="020 7946 0958"))
        (body,) = fake_telnyx.bodies("/calls")
        assert body["to"] == "+442079460958"

    def test_without_a_default_country_a_national_number_is_explained(
        self, operator_client, fake_telnyx
    ):
        response = operator_client.post(DIAL, dial_form(to="020 7946 0958"))
        assert "is not an E.164 phone number" in response.content.decode()
        assert fake_telnyx.requests == []

    def test_pasted_text_is_never_cut_short_by_the_browser(self, operator_client):
        html = operator_client.get(DIAL).content.decode()
        assert "maxlength" not in html

    def test_too_long_a_number_is_an_error_not_a_truncation(self, operator_client, fake_telnyx):
        pasted = "+1 555 123 4567 extension 89 please call after five"
        response = operator_client.post(DIAL, dial_form(to=pasted))
        assert "at most 32 characters" in response.content.decode()
        assert fake_telnyx.requests == []

    def test_the_answering_machine_modes_are_explained_in_words(self, operator_client):
        html = operator_client.get(DIAL).content.decode()
        assert "on a machine wait for its beep" in html
        assert "Off: connect the agent as soon as the call is answered" in html


class TestFarEnd:
    def test_it_is_offered_only_with_the_simulator(self, operator_client, settings):
        settings.TELNYX_SIMULATOR = False
        assert "far_end" not in operator_client.get(DIAL).context["form"].fields
        settings.TELNYX_SIMULATOR = True
        choices = dict(operator_client.get(DIAL).context["form"].fields["far_end"].choices)
        assert set(choices) == {"answers", "voicemail", "busy", "rejects", "no_answer"}

    def test_the_chosen_far_end_meets_the_next_dial_on_the_simulator(
        self, operator_client, settings, fake_telnyx, monkeypatch
    ):
        settings.TELNYX_SIMULATOR = True
        embedded.reset_embedded_simulator()
        operator_client.post(DIAL, dial_form(far_end="voicemail", far_end_keys="12#"))
        scenario = embedded.embedded_simulator().carrier.outbound_scenarios["+15551234567"]
        embedded.reset_embedded_simulator()
        assert (scenario.dial_outcome, scenario.amd_result, scenario.dtmf) == (
            "answer",
            "machine",
            "12#",
        )

    def test_bad_keys_for_the_far_end_are_explained(self, operator_client, settings, fake_telnyx):
        settings.TELNYX_SIMULATOR = True
        response = operator_client.post(DIAL, dial_form(far_end="answers", far_end_keys="12x"))
        assert "DTMF keys are 0-9, A-D, * and #." in response.content.decode()
        assert fake_telnyx.requests == []


class TestDialWithTwoCarriers:
    """Telnyx's and Twilio's numbers side by side; the chosen From decides the carrier.
    Twilio is FakeTwilio (tests/telephony/twilio/fake_twilio.py) behind the real client."""

    TWILIO_NUMBER = "+15550003333"

    @pytest.fixture(autouse=True)
    def _twilio(self, settings, monkeypatch):
        from tests.telephony.twilio.fake_twilio import (
            ACCOUNT_SID,
            AUTH_TOKEN,
            BASE_URL,
            FakeTwilio,
        )

        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
        settings.TWILIO_API_BASE_URL = BASE_URL
        settings.TWILIO_PHONE_NUMBER = self.TWILIO_NUMBER
        settings.TWILIO_FROM_NUMBERS = [self.TWILIO_NUMBER]
        settings.TWILIO_SIMULATOR = False
        self.fake = FakeTwilio()
        monkeypatch.setattr("telephony.twilio.client.get_client", self.fake.client)
        monkeypatch.setattr("telephony.twilio.call_control.get_client", self.fake.client)

    def test_from_offers_both_carriers_numbers_grouped_by_carrier(self, operator_client):
        response = operator_client.get(DIAL)
        html = response.content.decode()
        assert '<optgroup label="Telnyx">' in html
        assert '<optgroup label="Twilio">' in html
        help_text = response.context["form"].fields["from_number"].help_text
        assert "Telnyx: from TELNYX_FROM_NUMBERS" in help_text
        assert "Twilio: from TWILIO_FROM_NUMBERS" in help_text

    def test_a_twilio_number_dials_through_twilio(self, operator_client, fake_telnyx):
        response = operator_client.post(
            DIAL, dial_form(from_number=self.TWILIO_NUMBER, amd="detect_beep")
        )
        call = Call.objects.get()
        assert response["Location"] == reverse("admin:calls_call_change", args=[call.pk])
        assert (call.carrier, call.from_number) == ("twilio", self.TWILIO_NUMBER)
        (form,) = self.fake.forms("/Calls.json")
        assert (form["To"], form["From"]) == ("+15551234567", self.TWILIO_NUMBER)
        assert form["MachineDetection"] == "DetectMessageEnd"
        assert fake_telnyx.requests == []
        assert call.commands.get().carrier == "twilio"

    def test_a_twilio_refusal_is_told_in_twilios_words(self, operator_client):
        self.fake.fail("/Calls.json", 400, 21211, "Invalid 'To' Phone Number: +15551234567")
        response = operator_client.post(DIAL, dial_form(from_number=self.TWILIO_NUMBER))
        call = Call.objects.get()
        (message,) = texts(response)
        assert message.startswith("Twilio refused the call: Twilio error 21211: Invalid 'To'")
        assert call.status == Call.Status.FAILED
        assert call.story.startswith("The call was never placed. Twilio refused the call")

    def test_a_listed_number_its_carrier_would_not_dial_is_refused_with_the_fix(
        self, operator_client, settings
    ):
        from calls import from_numbers

        settings.TWILIO_FROM_NUMBERS = []  # fetched from the account, configured nowhere
        settings.TWILIO_PHONE_NUMBER = ""
        self.fake.numbers = [{"sid": "PN1", "phone_number": "+15550007777"}]
        from_numbers.forget_from_numbers()
        response = operator_client.post(DIAL, dial_form(from_number="+15550007777"))
        assert response.status_code == 200
        assert (
            "+15550007777 is a Twilio number, but phonebridge would dial it through telnyx: "
            "add it to TWILIO_FROM_NUMBERS."
        ) in response.content.decode()
        assert not Call.objects.exists()
        from_numbers.forget_from_numbers()

    def test_dial_again_keeps_a_twilio_calls_carrier(self, operator_client):
        call = make_call(
            carrier=Call.Carrier.TWILIO,
            call_control_id="CA" + "1" * 32,
            from_number="+15557654321",
            to_number="",  # Twilio withheld it: the Twilio number stands in
        )
        response = operator_client.post(
            LIST, {"action": "dial_again", "_selected_action": [str(call.pk)]}
        )
        form = operator_client.get(response["Location"]).context["form"]
        assert form["from_number"].value() == self.TWILIO_NUMBER
