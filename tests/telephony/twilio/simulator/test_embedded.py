"""The embedded Twilio simulator's adapter: where it is mounted, what it follows, what the
admin's "Simulate inbound call" and the Dial page's far end reach."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from calls.admin_views import _simulated_carrier
from telephony.simulation.server import serve_asgi
from telephony.twilio import embedded
from telephony.twilio.simulator import api

SIMULATOR = Path(api.__file__).parent
SIMULATION = SIMULATOR.parents[1] / "simulation"


@pytest.fixture(autouse=True)
def _fresh_simulator():
    embedded.reset_embedded_simulator()
    yield
    embedded.reset_embedded_simulator()


@pytest.fixture
def simulator_on(settings):
    settings.TWILIO_SIMULATOR = True
    settings.SIMULATOR_HOST = "127.0.0.1:8123"
    settings.TWILIO_ACCOUNT_SID = "AC" + "12" * 16
    settings.TWILIO_AUTH_TOKEN = "embedded-test-token"
    settings.TWILIO_PHONE_NUMBER = "+15550002222"
    return settings


def test_the_simulator_and_its_shared_parts_are_django_free():
    for module in [*SIMULATOR.glob("*.py"), *SIMULATION.glob("*.py")]:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names.append(getattr(node, "module", None) or "")
                assert not [n for n in names if n.split(".")[0] in ("django", "channels")], module


def test_the_mount_prefix_is_the_simulators_own():
    assert embedded.DEFAULT_PREFIX == api.DEFAULT_PREFIX


def test_no_production_module_but_the_adapter_imports_the_twilio_simulator():
    root = SIMULATOR.parents[2]
    importers = set()
    for package in ("phonebridge", "calls", "telephony"):
        for path in (root / package).rglob("*.py"):
            if SIMULATOR in path.parents or "management" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "telephony.twilio.simulator"
                ):
                    importers.add(path.relative_to(root).as_posix())
    assert importers <= {"telephony/twilio/embedded.py"}


def test_the_embedded_account_is_the_one_the_settings_verify_with(simulator_on):
    carrier = embedded.embedded_simulator().carrier
    assert carrier.account.sid == simulator_on.TWILIO_ACCOUNT_SID
    assert carrier.auth_token == simulator_on.TWILIO_AUTH_TOKEN
    number = carrier.account.number_record("+15550002222")
    assert number is not None
    assert number["voice_url"] == "http://127.0.0.1:8123/twilio/voice"
    assert number["status_callback"] == "http://127.0.0.1:8123/twilio/status"


async def test_it_answers_only_while_the_simulator_setting_is_on(simulator_on):
    async def django_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mount = embedded.mount_simulator(django_app)
    auth = (simulator_on.TWILIO_ACCOUNT_SID, simulator_on.TWILIO_AUTH_TOKEN)
    path = f"/_simulator/twilio/2010-04-01/Accounts/{simulator_on.TWILIO_ACCOUNT_SID}/Calls.json"
    async with serve_asgi(mount) as served, httpx.AsyncClient(auth=auth) as client:
        on = await client.get(served.url + path)
        simulator_on.TWILIO_SIMULATOR = False
        off = await client.get(served.url + path)
        other = await client.get(served.url + "/admin/")
    assert on.status_code == 200
    assert on.json()["calls"] == []
    assert off.status_code == 418
    assert other.status_code == 418


def test_the_rest_base_url_follows_the_server_when_it_was_not_given(simulator_on):
    simulator_on.SIMULATOR_FOLLOWS_SERVER = ["SIMULATOR_HOST", "TWILIO_API_BASE_URL"]
    simulator_on.TWILIO_API_BASE_URL = "http://127.0.0.1:8000/_simulator/twilio"
    embedded.embedded_simulator()
    simulator_on.SIMULATOR_HOST = "127.0.0.1:8765"  # as runserver on another port sets it
    assert embedded.follow_server_host()
    assert simulator_on.TWILIO_API_BASE_URL == "http://127.0.0.1:8765/_simulator/twilio"
    number = embedded.embedded_simulator().carrier.account.number_record("+15550002222")
    assert number is not None
    assert number["voice_url"] == "http://127.0.0.1:8765/twilio/voice"
    assert not embedded.follow_server_host()  # once there, nothing changes


def test_a_base_url_given_explicitly_never_moves(simulator_on):
    simulator_on.SIMULATOR_FOLLOWS_SERVER = []
    simulator_on.TWILIO_API_BASE_URL = "http://proxy.test/_simulator/twilio"
    simulator_on.SIMULATOR_HOST = "127.0.0.1:8765"
    embedded.follow_server_host()
    assert simulator_on.TWILIO_API_BASE_URL == "http://proxy.test/_simulator/twilio"


def test_the_far_end_chosen_on_the_dial_page_answers_the_next_dial(simulator_on):
    embedded.set_far_end("+15557770000", "busy", keys="9")
    scenario = embedded.embedded_simulator().carrier.outbound_scenarios["+15557770000"]
    assert scenario.dial_outcome == "user_busy"
    assert scenario.dtmf == "9"


def test_simulate_inbound_call_rings_the_carrier_the_operator_would_expect(settings):
    settings.TELNYX_SIMULATOR = settings.TWILIO_SIMULATOR = True
    settings.PHONEBRIDGE_CARRIER = "telnyx"
    assert _simulated_carrier("") == "telnyx"
    assert _simulated_carrier("twilio") == "twilio"  # a button that names its carrier
    settings.PHONEBRIDGE_CARRIER = "twilio"
    assert _simulated_carrier("") == "twilio"
    settings.TWILIO_SIMULATOR = False
    assert _simulated_carrier("twilio") == "telnyx"  # only what is on can ring
    settings.TWILIO_SIMULATOR, settings.TELNYX_SIMULATOR = True, False
    assert _simulated_carrier("") == "twilio"
