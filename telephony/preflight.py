"""What a carrier's provisioning preflight (`manage.py provision_<carrier> --check`) reports.

Each carrier decides its own checks; the shape of a result and the public-host check, which
asks the same question whatever the carrier, live here so both commands print them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from telephony import reachability

Status = Literal["ok", "fail", "skip"]
HOST_CHECK = "Public host"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""  # what to do about a failure, printed under it


async def host_check(host: str | None, host_error: str) -> Check:
    """Whether `host` reaches this phonebridge; `host_error` says why there is none (None)."""
    if host is None:
        return Check(HOST_CHECK, "fail", "unknown", host_error)
    result = await reachability.probe(host)
    return Check(HOST_CHECK, result.status, result.detail, result.fix)
