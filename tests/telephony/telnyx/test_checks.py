from __future__ import annotations

import base64

import pytest

from telephony.telnyx.checks import check_telnyx


def ids(messages) -> set[str]:
    return {m.id for m in messages}


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.TELNYX_SIMULATOR = False
    settings.TELNYX_SKIP_SIGNATURE_VERIFICATION = False
    return settings


def test_a_complete_telnyx_configuration_passes(production):
    assert check_telnyx() == []


def test_a_public_key_that_is_not_base64_is_reported(production):
    production.TELNYX_PUBLIC_KEY = "not base64!"
    messages = check_telnyx()
    assert ids(messages) == {"telephony.E002"}
    assert "not valid base64" in messages[0].msg


def test_a_public_key_of_the_wrong_length_is_reported(production):
    production.TELNYX_PUBLIC_KEY = base64.b64encode(b"x" * 31).decode()
    messages = check_telnyx()
    assert ids(messages) == {"telephony.E002"}
    assert "31 bytes" in messages[0].msg


def test_the_der_form_of_the_public_key_is_accepted(production):
    raw = base64.b64decode(production.TELNYX_PUBLIC_KEY)
    production.TELNYX_PUBLIC_KEY = base64.b64encode(
        bytes.fromhex("302a300506032b6570032100") + raw
    ).decode()
    assert check_telnyx() == []


def test_a_missing_public_key_is_an_error(production):
    production.TELNYX_PUBLIC_KEY = ""
    assert "telephony.E001" in ids(check_telnyx())


def test_a_missing_api_key_is_an_error_outside_the_simulator(production):
    production.TELNYX_API_KEY = ""
    assert "telephony.E007" in ids(check_telnyx())


def test_the_simulator_needs_no_credentials(settings):
    settings.DEBUG = True
    settings.TELNYX_SIMULATOR = True
    settings.TELNYX_API_KEY = ""
    settings.TELNYX_CALL_CONTROL_APP_ID = ""
    assert check_telnyx() == []


def test_a_lower_case_codec_is_refused_because_telnyx_is_case_sensitive(production):
    production.STREAM_BIDIRECTIONAL_CODEC = "pcmu"
    assert ids(check_telnyx()) == {"telephony.E005"}


def test_skipping_verification_without_debug_is_ignored_with_a_warning(production):
    production.TELNYX_SKIP_SIGNATURE_VERIFICATION = True
    assert ids(check_telnyx()) == {"telephony.W001"}


def test_skipping_verification_in_debug_is_warned_about(production):
    production.DEBUG = True
    production.TELNYX_SKIP_SIGNATURE_VERIFICATION = True
    assert ids(check_telnyx()) == {"telephony.W003"}
