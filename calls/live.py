"""What the console's polling asks: "has anything changed?", cheaply, and if so, what.

A page polls every few seconds for as long as an operator keeps it open, so an unchanged
answer must cost one small indexed query. Every transition and every webhook moves
`Call.last_activity_at` forward (see Call._advance and Call.touch), so the newest
`last_activity_at` is a marker that changes whenever the list of live calls can have.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from django.db.models import Max, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from calls.models import Call, CallEvent, TelnyxCommand

# Calls that ended this recently are still shown in the live panel, so an operator sees
# how a call finished instead of watching it vanish.
RECENT = timedelta(minutes=2)
MAX_LIVE_ROWS = 100
_SUMMARY_FIELDS = (
    "id",
    "direction",
    "status",
    "from_number",
    "to_number",
    "simulated",
    "created_at",
    "answered_at",
    "ended_at",
    "last_activity_at",
    "hangup_cause",
    "bridge_status",
)


def list_marker() -> str:
    """One indexed MAX() over last_activity_at."""
    latest = Call.objects.aggregate(latest=Max("last_activity_at"))["latest"]
    return latest.isoformat() if latest else ""


def live_and_recent() -> list[Call]:
    """Live calls and those that ended moments ago, newest first, in one query."""
    since = timezone.now() - RECENT
    return list(
        Call.objects.filter(Q(status__in=Call.LIVE_STATUSES) | Q(last_activity_at__gte=since))
        .only(*_SUMMARY_FIELDS)
        .order_by("-created_at")[:MAX_LIVE_ROWS]
    )


def summary(call: Call) -> dict[str, Any]:
    duration = call.duration
    return {
        "id": str(call.pk),
        "url": reverse("admin:calls_call_change", args=[call.pk]),
        "direction": call.direction,
        "status": call.status,
        "status_label": call.get_status_display(),
        "live": call.is_live,
        "from": call.from_number,
        "to": call.to_number,
        "simulated": call.simulated,
        "created_at": call.created_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_s": duration.total_seconds() if duration is not None else None,
        "hangup_cause": call.hangup_cause,
        "bridge_status": call.bridge_status,
    }


def _latest(model: type[CallEvent | TelnyxCommand], field: str) -> Subquery:
    rows = model.objects.filter(call=OuterRef("pk")).order_by().values("call")
    return Subquery(rows.annotate(latest=Max(field)).values("latest")[:1])


def call_marker(call_id: uuid.UUID | str) -> tuple[str, Call] | None:
    """A fingerprint of everything the detail page shows, in one query (None: no such call).

    Commands are logged when sent and updated when Telnyx answers, and media statistics and
    the recording are written when the stream ends without a transition, so the fingerprint
    covers them as well as `last_activity_at`.
    """
    call = (
        Call.objects.filter(pk=call_id)
        .annotate(
            last_event=_latest(CallEvent, "id"),
            last_command=_latest(TelnyxCommand, "id"),
            last_finished=_latest(TelnyxCommand, "finished_at"),
        )
        .only("status", "last_activity_at", "ended_at", "frames_in", "recording", "bridge_status")
        .first()
    )
    if call is None:
        return None
    parts = (
        call.status,
        call.last_activity_at,
        call.ended_at,
        call.frames_in,
        call.recording.name,
        call.bridge_status,
        call.last_event,
        call.last_command,
        call.last_finished,
    )
    digest = hashlib.blake2s("|".join(map(str, parts)).encode(), digest_size=8).hexdigest()
    return digest, call


def keeps_changing(call: Call) -> bool:
    """Whether the detail page should keep polling: while live, and a moment after the end,
    when the media statistics, the recording and the last webhooks arrive."""
    if call.is_live:
        return True
    return call.ended_at is not None and timezone.now() - call.ended_at < RECENT
