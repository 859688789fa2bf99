"""Request and response values shared by the simulator's REST handlers."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telephony.simulation.asgi import Response
from telephony.telnyx.simulator import errors

if TYPE_CHECKING:
    from telephony.telnyx.simulator.carrier import Carrier


@dataclass
class Request:
    method: str
    path: str  # below the prefix, e.g. "/calls"
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Carrier", Request], Awaitable[Response]]


def data(value: Any, status: int = 200) -> Response:
    return Response(status, {"data": value})


def page(request: Request, records: list[dict[str, Any]]) -> Response:
    """One page of `records` with Telnyx's pagination meta (`page[number]`, `page[size]`)."""
    number = _int_param(request, "page[number]", 1, 1, 10**6)
    size = _int_param(request, "page[size]", 20, 1, 250)
    meta = {
        "page_number": number,
        "page_size": size,
        "total_pages": max(1, math.ceil(len(records) / size)),
        "total_results": len(records),
    }
    return Response(200, {"data": records[(number - 1) * size : number * size], "meta": meta})


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise errors.ApiError(422, "10033", "Value out of range", f"{name} must be {low}-{high}.")
    return int(raw)
