"""Who did what to a call: every operator action (dial, dial again, hang up, DTMF, transfer,
recording start and stop) is written twice, as a CallEvent in the call's own timeline and as a
Django admin LogEntry, so it also appears in the call's History page next to the user.

Both are written whatever the outcome (a refused transfer was still attempted), and neither
ever holds a secret: parameters are an allow-list, and DTMF digits are counted, not kept,
because operators type PINs and account numbers into the far end's menus.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import DatabaseError
from django.http import HttpRequest

from calls.models import Call, CallEvent

logger = logging.getLogger(__name__)

# What each action is called in the History page, and which parameters it may record.
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dial": ("Dialed", ("to", "from_number", "amd")),
    "dial_again": ("Chose to dial again", ("to", "from_number")),
    "hang_up": ("Hung up", ()),
    "transfer": ("Transferred", ("to",)),
    "send_dtmf": ("Sent DTMF", ("digit_count",)),
    "start_recording": ("Started {carrier} recording", ()),
    "stop_recording": ("Stopped {carrier} recording", ()),
}


def record(
    request: HttpRequest, call: Call, action: str, *, outcome: str, **params: Any
) -> CallEvent | None:
    """Note that the request's user did `action` to `call`, and how it went ("sent", or the
    error the operator was shown). An audit failure never undoes or hides the action itself:
    it is logged, and the operator's action stands."""
    label, allowed = ACTIONS.get(action, (action.replace("_", " ").capitalize(), ()))
    label = label.replace("{carrier}", call.get_carrier_display())
    if "digits" in params:
        params["digit_count"] = len(str(params.pop("digits")))
    kept = {key: str(params[key]) for key in allowed if params.get(key) not in (None, "")}
    user = request.user
    username = user.get_username() if user.is_authenticated else ""
    try:
        event = CallEvent.note(
            call.pk,
            source=CallEvent.Source.OPERATOR,
            type=f"operator.{action}",
            payload={"user": username, "action": action, "params": kept, "outcome": outcome},
        )
        if user.is_authenticated:
            LogEntry.objects.log_actions(
                user.pk, [call], CHANGE, change_message=_message(label, kept, outcome)
            )
    except DatabaseError:
        logger.exception("could not record %s by %s on call %s", action, username, call.pk)
        return None
    return event


def _message(label: str, params: dict[str, str], outcome: str) -> str:
    details = ", ".join(f"{key} {value}" for key, value in params.items())
    return f"{label}{f' ({details})' if details else ''}: {outcome}"[:1000]
