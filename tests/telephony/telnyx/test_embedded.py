from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import httpx

from telephony.telnyx.embedded import SimulatorMount, from_settings
from telephony.telnyx.simulator.server import serve_asgi

SIMULATOR = Path(__file__).parents[3] / "telephony" / "telnyx" / "simulator"


def simulator_settings(**overrides) -> SimpleNamespace:
    values = {
        "TELNYX_API_KEY": "KEYSIMULATOR",
        "SIMULATOR_SIGNING_SEED": bytes(range(32)),
        "SIMULATOR_HOST": "127.0.0.1:8000",
        "TELNYX_CALL_CONTROL_APP_ID": "1000000000000000001",
        "TELNYX_PHONE_NUMBER": "+15550100000",
    }
    return SimpleNamespace(**{**values, **overrides})


def test_it_seeds_the_embedded_carrier_from_settings():
    app = from_settings(simulator_settings())

    account = app.carrier.account
    assert account.api_keys == {"KEYSIMULATOR"}
    application = account.applications["1000000000000000001"]
    assert application["webhook_event_url"] == "http://127.0.0.1:8000/telnyx/events"
    assert application["webhook_api_version"] == "2"
    assert account.number_record("+15550100000")["connection_id"] == "1000000000000000001"


def test_it_signs_with_the_key_the_settings_seed_gives():
    first = from_settings(simulator_settings())
    second = from_settings(simulator_settings())

    assert first.carrier.public_key_b64 == second.carrier.public_key_b64


async def test_it_mounts_the_simulator_beside_another_app():
    async def other(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mount = SimulatorMount(other, from_settings(simulator_settings()))
    headers = {"Authorization": "Bearer KEYSIMULATOR"}
    async with serve_asgi(mount) as served, httpx.AsyncClient(headers=headers) as client:
        simulated = await client.get(f"{served.url}/_simulator/telnyx/v2/phone_numbers")
        elsewhere = await client.get(f"{served.url}/admin/")

    assert simulated.json()["data"][0]["phone_number"] == "+15550100000"
    assert elsewhere.status_code == 204


def test_the_simulator_core_does_not_import_django():
    for module in SIMULATOR.glob("*.py"):
        tree = ast.parse(module.read_text())
        imported = [
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
        ]
        assert not [n for n in imported if n.split(".")[0] in ("django", "channels")], module


def test_the_mount_prefix_is_the_simulators_own():
    from telephony.telnyx import embedded
    from telephony.telnyx.simulator import api

    assert embedded.DEFAULT_PREFIX == api.DEFAULT_PREFIX


def test_no_production_module_but_the_adapter_imports_the_simulator():
    root = SIMULATOR.parents[2]
    production = [
        path
        for package in ("phonebridge", "calls", "telephony")
        for path in (root / package).rglob("*.py")
        if SIMULATOR not in path.parents and "management" not in path.parts
    ]
    importers = []
    for path in production:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "telephony.telnyx.simulator"
            ):
                importers.append(path.relative_to(root).as_posix())
    assert set(importers) == {"telephony/telnyx/embedded.py"}


async def test_it_answers_only_while_the_simulator_setting_is_on(settings, monkeypatch):
    from telephony.telnyx import embedded

    monkeypatch.setattr(embedded, "_embedded", from_settings(simulator_settings()))

    async def django_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mount = embedded.mount_simulator(django_app)
    headers = {"Authorization": "Bearer KEYSIMULATOR"}
    async with serve_asgi(mount) as served, httpx.AsyncClient(headers=headers) as client:
        url = f"{served.url}/_simulator/telnyx/v2/outbound_voice_profiles"
        settings.TELNYX_SIMULATOR = True
        on = await client.get(url)
        settings.TELNYX_SIMULATOR = False
        off = await client.get(url)

    assert on.status_code == 200
    assert off.status_code == 418


async def test_it_rings_the_embedded_simulator_for_the_admin_button(monkeypatch, receiver):
    from telephony.telnyx import embedded

    app = from_settings(simulator_settings())
    app.carrier.account.update_application(
        "1000000000000000001", {"webhook_event_url": receiver.url}
    )
    monkeypatch.setattr(embedded, "_embedded", app)
    monkeypatch.setattr(embedded, "_home_loop", None)

    call_id = await embedded.simulate_inbound_call(
        from_number="+15550104242", to_number="+15550100000", hangup_by="never"
    )

    initiated = await receiver.wait_for("call.initiated", call_id)
    assert initiated.payload["from"] == "+15550104242"
    assert initiated.verified_by(app.carrier.public_key_b64)
    await app.carrier.aclose()
