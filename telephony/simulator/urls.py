"""Nothing to route through Django: `phonebridge/asgi.py` hands `/_simulator/telnyx/v2/...`
to the simulator's own ASGI app (`telephony.simulator.embedded`) before Django sees it.
This module only keeps `include("telephony.simulator.urls")` importable.
"""

from __future__ import annotations

from typing import Any

urlpatterns: list[Any] = []
