"""Each kind of bridge is named once: Call.Bridge, mapped to its class in BRIDGES."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from calls.models import Call
from telephony.bridges import BRIDGES, create_bridge, prepares_ahead
from telephony.bridges.echo import EchoBridge
from telephony.bridges.stream import StreamBridge


def test_every_kind_of_bridge_has_a_class():
    assert set(BRIDGES) == set(Call.Bridge.values)
    assert isinstance(create_bridge(Call.Bridge.ECHO), EchoBridge)
    assert isinstance(create_bridge(Call.Bridge.STREAM), StreamBridge)


def test_without_a_kind_the_setting_chooses(settings):
    settings.BRIDGE = "echo"
    assert isinstance(create_bridge(), EchoBridge)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown bridge 'carrier-pigeon'"):
        create_bridge("carrier-pigeon")


@pytest.mark.parametrize(
    ("bridge", "prepared"), [("stream", True), ("echo", False), ("", False), ("gone", False)]
)
def test_only_the_stream_bridge_is_prepared_ahead(bridge, prepared):
    assert prepares_ahead(Call(bridge=bridge)) is prepared


@pytest.mark.parametrize(("bridge", "loaded"), [("stream", True), ("echo", False)])
def test_a_worker_loads_the_webrtc_stack_at_start_up_only_for_the_stream_bridge(bridge, loaded):
    probe = "import django, sys; django.setup(); print('getstream.video.rtc' in sys.modules)"
    # phonebridge's own settings (the test settings clear BRIDGE and Stream's credentials).
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "phonebridge.settings",
        "PHONEBRIDGE_READ_DOT_ENV": "0",
        "BRIDGE": bridge,
        "STREAM_API_KEY": "key",
        "STREAM_API_SECRET": "secret",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == str(loaded)
