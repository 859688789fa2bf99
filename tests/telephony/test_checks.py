from __future__ import annotations

import pytest

from telephony.checks import check_bridge


def ids(messages) -> set[str]:
    return {m.id for m in messages}


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    return settings


def test_a_complete_bridge_configuration_passes(production):
    assert check_bridge() == []


def test_stream_bridge_without_credentials_is_an_error(production):
    production.BRIDGE = "stream"
    production.STREAM_API_KEY = ""
    messages = check_bridge()
    assert ids(messages) == {"telephony.E003"}
    assert "STREAM_API_KEY" in messages[0].msg


def test_an_unknown_bridge_is_an_error(production):
    production.BRIDGE = "carrier-pigeon"
    assert ids(check_bridge()) == {"telephony.E004"}
