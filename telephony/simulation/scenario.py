"""What the simulated far end does on one call: who calls whom, how it answers, what it says."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from telephony.simulation.faults import FaultRule

Direction = Literal["incoming", "outgoing"]
HangupBy = Literal["caller", "never"]
# How an outbound dial ends before anything else happens (telnyx-protocol.md §2.5).
DialOutcome = Literal["answer", "timeout", "no_answer", "user_busy", "call_rejected"]


@dataclass(frozen=True)
class WebhookFaults:
    """Delivery faults; rates are probabilities per delivery, drawn from the sender's RNG.

    A corrupted attempt (bad signature, missing header) is followed by a clean retry, so the
    server sees the forgery and the call still completes.
    """

    duplicate: float = 0.0  # deliver the same event (same data.id) twice
    reorder_window: int = 0  # shuffle each batch of up to this many queued events of a call
    bad_signature: float = 0.0
    missing_header: float = 0.0
    skew_s: int = 0  # added to telnyx-timestamp on every attempt
    drop: float = 0.0  # the event is lost: never delivered, never retried

    @property
    def any(self) -> bool:
        return bool(
            self.duplicate
            or self.reorder_window > 1
            or self.bad_signature
            or self.missing_header
            or self.skew_s
            or self.drop
        )


@dataclass(frozen=True)
class Scenario:
    direction: Direction = "incoming"
    from_: str = "+15550001111"
    to: str = "+15550100000"
    # The codec of the far party's leg; the media socket carries it unless the command asks
    # for another `stream_codec` (telnyx-protocol.md §1.5).
    codec: str = "PCMU"
    l16_big_endian: bool = True
    duration_s: float = 5.0  # seconds of audio after answer before the far party hangs up
    hangup_by: HangupBy = "caller"  # "never": wait for the server to hang up
    ring_timeout_s: float = 30.0  # an unanswered inbound call is abandoned after this
    hangup_before_answer_s: float | None = None  # inbound caller gives up early (487)
    answer_delay_s: float = 0.2  # outbound: ringing time before the callee picks up
    dial_outcome: DialOutcome = "answer"
    amd_result: str = "human"
    dtmf: str = ""
    dtmf_at_s: float = 1.0  # after the media stream starts
    reorder_media: bool = False  # swap some adjacent media frames on the socket
    measure_rtt: bool = True
    # The far party is silent for this long before it hangs up (counted back from its
    # scheduled hang-up), letting every echo of its speech come back before `stop`.
    quiet_tail_s: float = 0.0
    webhook_faults: WebhookFaults | None = None  # None: the sender's defaults
    # REST faults for commands on this call only (each rule is copied onto the call).
    rest_faults: tuple[FaultRule, ...] = ()
    # Multiplies carrier-side delays (ringing, speak and playback durations, transcription
    # cadence, webhook backoff); media pacing always stays real time.
    time_scale: float = 1.0
    tags: tuple[str, ...] = field(default_factory=tuple)

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


def scenario_from_dict(fields: dict[str, Any], base: Scenario | None = None) -> Scenario:
    """Build a scenario from JSON-ish fields (`from` is accepted for `from_`)."""
    known = {f.name for f in dataclasses.fields(Scenario)}
    changes = {("from_" if k == "from" else k): v for k, v in fields.items()}
    unknown = set(changes) - known
    if unknown:
        raise ValueError(f"unknown scenario fields: {', '.join(sorted(unknown))}")
    if isinstance(changes.get("webhook_faults"), dict):
        changes["webhook_faults"] = WebhookFaults(**changes["webhook_faults"])
    if "rest_faults" in changes:
        changes["rest_faults"] = tuple(FaultRule(**rule) for rule in changes["rest_faults"])
    if "tags" in changes:
        changes["tags"] = tuple(changes["tags"])
    return dataclasses.replace(base or Scenario(), **changes)
