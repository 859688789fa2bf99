"""How a finished call went, in an operator's words: what the caller (or the person we
called) experienced, not only the code that ended it.

The failure reasons read here are the ones phonebridge writes itself (telephony.dialing,
telephony.actions, the media stream handler, reconciliation), each with a known prefix; any
other reason is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from calls.models import Call

# A carrier error that never got an answer reads "<command>: no response from <carrier> (…)"
# (telephony.telnyx.client, telephony.twilio.client); one the carrier answered reads
# "<Carrier> error <code>: <title>…", and a refused dial "<Carrier> refused the call: …"
# (telephony.dialing.dial_failure). <Carrier> is the call's: "Telnyx" or "Twilio".
_NO_RESPONSE = re.compile(r"no response from (\w+)(?: \(([^()]*)\))?", re.IGNORECASE)

_HANGUP_WORDS = {
    "originator_cancel": "the caller hung up",
    "timeout": "nobody answered in time",
    "no_answer": "nobody answered",
    "user_busy": "the line was busy",
    "call_rejected": "the call was rejected",
    "not_found": "the number does not exist",
    "time_limit": "the call reached its time limit",
    "normal_clearing": "normal hangup",
}


def seconds(delta: timedelta | None) -> str:
    if delta is None:
        return "?"
    value = delta.total_seconds()
    return f"{value:.1f} s" if value < 60 else f"{int(value // 60)} min {round(value % 60)} s"


def story(call: Call) -> str:
    """One or two sentences; empty while the call is live."""
    if call.is_live:
        return ""
    teller = _TELLERS.get(call.status)
    return teller(call) if teller else ""


def _cause(call: Call) -> str:
    return f" ({call.hangup_cause})" if call.hangup_cause else ""


def _missed(call: Call) -> str:
    rang = seconds(call.ring_time)
    if call.hangup_cause == "originator_cancel" or call.hangup_source == "caller":
        return f"Missed: the caller hung up after {rang} of ringing, before we answered."
    why = _HANGUP_WORDS.get(call.hangup_cause, "the call ended")
    return f"Missed: {why} after {rang} of ringing, before we answered{_cause(call)}."


def _post_dial(call: Call) -> str:
    delay = call.post_dial_delay
    return f" Post-dial delay {seconds(delay)}." if delay is not None else ""


def _no_answer(call: Call) -> str:
    why = _HANGUP_WORDS.get(call.hangup_cause, "the call ended")
    rang = f" after {seconds(call.ring_time)} of ringing" if call.ring_time is not None else ""
    text = f"No answer: {call.to_number or 'the number'} never picked up; {why}{rang}"
    return f"{text}{_cause(call)}.{_post_dial(call)}"


def _busy(call: Call) -> str:
    return f"Busy: {call.to_number or 'the number'} was busy{_cause(call)}.{_post_dial(call)}"


def _rejected(call: Call) -> str:
    who = call.to_number or "the number"
    return f"Rejected: {who} declined the call{_cause(call)}.{_post_dial(call)}"


def _ended(call: Call) -> str:
    talk = f"Talked for {seconds(call.duration)}" if call.duration is not None else "Ended"
    by = f", hung up by the {call.hangup_source}" if call.hangup_source else ""
    return f"{talk}{by}{_cause(call)}."


def _failed(call: Call) -> str:
    reason = call.failure_reason.strip() or "no reason recorded"
    prefix, _, rest = reason.partition(": ")
    if prefix == "answer failed":
        return (
            "The caller heard ringing and was never connected: we could not answer. "
            f"{carrier_words(rest, command='our answer', carrier=call.get_carrier_display())}"
        )
    carrier = call.get_carrier_display()
    placing = (f"{carrier} refused", f"{carrier} could not", "No response from")
    if prefix == "dial failed" or reason.startswith(placing):
        detail = rest if prefix == "dial failed" else reason
        words = carrier_words(detail, command="the dial", carrier=carrier)
        return f"The call was never placed. {words}"
    if prefix == "media stream failed":
        return f"The caller was connected but no audio flowed ({rest}); we hung up."
    if (call.custom_data or {}).get("hangup_after_speak"):
        return f"The caller heard our apology and was hung up: {reason}"
    return f"Failed: {reason}"


def carrier_words(detail: str, *, command: str, carrier: str = "Telnyx") -> str:
    """'<carrier> refused' only when the carrier answered with a refusal; 'no response'
    otherwise. `carrier` is the call's carrier as operators read it ("Telnyx", "Twilio")."""
    if detail.startswith((f"{carrier} refused", "No response from", f"{carrier} could not")):
        return detail if detail.endswith(".") else f"{detail}."
    if match := _NO_RESPONSE.search(detail):
        who, why = match.group(1), match.group(2)
        return f"No response from {who} to {command}" + (f" ({why})." if why else ".")
    return f"{carrier} refused {command}: {detail}"


_TELLERS: dict[str, Callable[[Call], str]] = {
    Call.Status.MISSED: _missed,
    Call.Status.NO_ANSWER: _no_answer,
    Call.Status.BUSY: _busy,
    Call.Status.REJECTED: _rejected,
    Call.Status.ENDED: _ended,
    Call.Status.FAILED: _failed,
}
