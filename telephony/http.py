"""What our REST clients (Telnyx, the agent server) share about reading HTTP responses."""

from __future__ import annotations

from typing import Any

import httpx


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body's JSON object, or {} when the body is not one (an HTML error page, a list)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
