"""Building the simulator that phonebridge's ASGI server mounts in development.

`phonebridge/asgi.py` routes paths under `/_simulator/telnyx/v2/` to the app returned here;
the carrier's background tasks then run on the server's own event loop. Nothing here imports
Django: `from_settings` only reads attributes off whatever settings object it is given.
"""

from __future__ import annotations

from typing import Any

from telephony.simulator.api import DEFAULT_PREFIX, SimulatorAPI
from telephony.simulator.carrier import Carrier


def build_simulator_app(
    *,
    api_key: str,
    signing_seed: bytes | None,
    webhook_event_url: str,
    connection_id: str | None = None,
    phone_number: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    **carrier_options: Any,
) -> SimulatorAPI:
    """A carrier seeded with one key, one app pointing at `webhook_event_url`, one number."""
    carrier = Carrier(signing_seed=signing_seed, **carrier_options)
    carrier.seed(
        api_keys=[api_key],
        connection_id=connection_id,
        webhook_event_url=webhook_event_url,
        phone_number=phone_number,
    )
    return SimulatorAPI(carrier, prefix)


def from_settings(settings: Any, *, prefix: str = DEFAULT_PREFIX) -> SimulatorAPI:
    """The embedded simulator for phonebridge's simulator-mode settings (DEBUG only)."""
    host = settings.SIMULATOR_HOST
    base = host if "://" in host else f"http://{host}"
    return build_simulator_app(
        api_key=settings.TELNYX_API_KEY,
        signing_seed=getattr(settings, "SIMULATOR_SIGNING_SEED", None),
        webhook_event_url=f"{base.rstrip('/')}/telnyx/events",
        connection_id=settings.TELNYX_CALL_CONTROL_APP_ID or None,
        phone_number=settings.TELNYX_PHONE_NUMBER or None,
        prefix=prefix,
    )
