"""Request and response values shared by the simulator's REST handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telephony.twilio.simulator.carrier import Carrier


@dataclass
class Request:
    method: str
    path: str  # below the prefix, e.g. "/2010-04-01/Accounts/AC…/Calls.json"
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    authorization: str
    params: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str:
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else ""


Handler = Callable[["Carrier", Request], tuple[int, dict[str, Any] | None]]


def page(request: Request, key: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of `records` in Twilio's list envelope (Page and PageSize, 0-based pages)."""
    size = _int(request.value("PageSize"), 50, 1, 1000)
    number = _int(request.value("Page"), 0, 0, 10**6)
    chunk = records[number * size : (number + 1) * size]
    uri = f"/2010-04-01{request.path.split('/2010-04-01', 1)[-1]}"
    more = (number + 1) * size < len(records)
    return {
        key: chunk,
        "end": number * size + max(len(chunk) - 1, 0),
        "first_page_uri": f"{uri}?PageSize={size}&Page=0",
        "next_page_uri": f"{uri}?PageSize={size}&Page={number + 1}" if more else None,
        "page": number,
        "page_size": size,
        "previous_page_uri": f"{uri}?PageSize={size}&Page={number - 1}" if number else None,
        "start": number * size,
        "uri": f"{uri}?PageSize={size}&Page={number}",
    }


def _int(raw: str, default: int, low: int, high: int) -> int:
    from telephony.twilio.simulator import errors

    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise errors.invalid_parameter("PageSize/Page", raw)
    return int(raw)
