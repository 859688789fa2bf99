from __future__ import annotations

import hashlib

import pytest

from telephony.simulator.embedded import reset_embedded_simulator

SEED = hashlib.sha256(b"e2e simulator").digest()


@pytest.fixture
def simulated_server(live_asgi, settings, tmp_path):
    """phonebridge on a live socket, with the embedded simulator as its carrier."""
    import base64

    from nacl.signing import SigningKey

    settings.DEBUG = True
    settings.TELNYX_SIMULATOR = True
    settings.SIMULATOR_HOST = live_asgi.host
    settings.SIMULATOR_SIGNING_SEED = SEED
    settings.TELNYX_API_KEY = "KEYSIMULATED"
    settings.TELNYX_API_BASE_URL = f"{live_asgi.url}/_simulator/telnyx/v2"
    settings.TELNYX_PUBLIC_KEY = base64.b64encode(bytes(SigningKey(SEED).verify_key)).decode()
    settings.BRIDGE = "echo"
    settings.RECORD_CALLS = True
    settings.MEDIA_ROOT = str(tmp_path)
    reset_embedded_simulator()
    yield live_asgi
    if settings.TELNYX_SIMULATOR:
        from telephony.simulator.embedded import embedded_simulator

        live_asgi.run(embedded_simulator().carrier.aclose())
    reset_embedded_simulator()
