"""What phonebridge keeps about calls: the Call, every event seen, every command sent.

`calls` knows nothing about Telnyx wire formats; `telephony` parses them and calls the
guarded transition methods below.

Telnyx promises neither order nor once-only delivery of webhooks, so call state is a
join-semilattice: a status only ever moves to the join (least upper bound) of where it is
and where an event points, and facts such as `answered_at` are recorded once, the first
time they are seen. Whatever order the same events arrive in, a call ends in the same state.
Each transition is one conditional UPDATE whose row count says whether this worker won.

The order (`Call.ABOVE`), from the bottom:

    initiated < ringing < answered < streaming < ended < failed
                ringing < missed                < ended
                ringing < no_answer < rejected < busy < ended

- `missed`: an inbound call whose caller hung up while it rang, before we answered (the
  caller gave up, or Telnyx gave up for us). Its ring time runs from call.initiated to the
  hangup.
- `no_answer`, `rejected`, `busy`: an outbound call that ended before the far end answered:
  with Telnyx's `user_busy` it is busy, with `call_rejected` rejected, and with any other
  cause (`timeout`, `no_answer`, our own cancel...) no answer.
- Those "never connected" outcomes sit beside answered/streaming, not above them: a late
  call.answered (or streaming.started) for a call already marked missed joins the two into
  `ended`, exactly as if the answer had come first and the hangup after it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from calls import sql


class Call(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        INITIATED = "initiated", "Initiated"
        RINGING = "ringing", "Ringing"
        ANSWERED = "answered", "Answered"
        STREAMING = "streaming", "Streaming"
        MISSED = "missed", "Missed"
        NO_ANSWER = "no_answer", "No answer"
        REJECTED = "rejected", "Rejected"
        BUSY = "busy", "Busy"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    # The statuses strictly above each one (see the module docstring for the picture).
    ABOVE: dict[str, frozenset[str]] = {
        Status.FAILED: frozenset(),
        Status.ENDED: frozenset({Status.FAILED}),
        Status.BUSY: frozenset({Status.ENDED, Status.FAILED}),
        Status.REJECTED: frozenset({Status.BUSY, Status.ENDED, Status.FAILED}),
        Status.NO_ANSWER: frozenset({Status.REJECTED, Status.BUSY, Status.ENDED, Status.FAILED}),
        Status.MISSED: frozenset({Status.ENDED, Status.FAILED}),
        Status.STREAMING: frozenset({Status.ENDED, Status.FAILED}),
        Status.ANSWERED: frozenset({Status.STREAMING, Status.ENDED, Status.FAILED}),
    }
    ABOVE[Status.RINGING] = frozenset(set(Status) - {Status.INITIATED, Status.RINGING})
    ABOVE[Status.INITIATED] = frozenset(set(Status) - {Status.INITIATED})
    # The events waiting for one INSERT while `batched_events` is open (not a column).
    _batch: list[CallEvent] | None = None

    LIVE_STATUSES = (Status.INITIATED, Status.RINGING, Status.ANSWERED, Status.STREAMING)
    # Calls that never connected: nobody on the far end picked up.
    UNANSWERED_STATUSES = (Status.MISSED, Status.NO_ANSWER, Status.REJECTED, Status.BUSY)
    FINAL_STATUSES = (Status.ENDED, Status.FAILED, *UNANSWERED_STATUSES)
    # Telnyx's hangup causes are an open enum (telnyx-protocol.md, call.hangup). Normal
    # clearing and the time limit only end a connected call, so a hangup with either means
    # the call was answered even if call.answered has not arrived yet. An empty cause or our
    # own "reconciled" says nothing about it. Any other cause on a call we never saw answered
    # (originator_cancel, timeout, no_answer, user_busy, call_rejected...) means it never
    # connected: busy and rejected are told apart for outbound calls, the rest is no answer.
    CONNECTED_CAUSES = frozenset({"", "normal_clearing", "time_limit", "reconciled"})
    OUTBOUND_UNANSWERED = {"user_busy": Status.BUSY, "call_rejected": Status.REJECTED}

    class Carrier(models.TextChoices):
        """Who carries the phone leg (telephony.carrier.CARRIERS maps each to its class)."""

        TELNYX = "telnyx", "Telnyx"
        TWILIO = "twilio", "Twilio"

    class Bridge(models.TextChoices):
        """What answers the phone leg (telephony.bridges maps each to its class)."""

        STREAM = "stream", "Stream"
        ECHO = "echo", "Echo"

    class BridgeStatus(models.TextChoices):
        NONE = "", "None"
        PREPARING = "preparing", "Preparing"
        READY = "ready", "Ready"  # the agent has been summoned
        JOINED = "joined", "Joined"  # the phone is in the Stream call
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    LIVE_BRIDGE = (
        BridgeStatus.NONE,
        BridgeStatus.PREPARING,
        BridgeStatus.READY,
        BridgeStatus.JOINED,
    )
    # Where the bridge may move from, by where it moves to. Teardown (ended) and failure may
    # come from any live state, and only once.
    BRIDGE_MOVES: dict[str, tuple[str, ...]] = {
        BridgeStatus.PREPARING: (BridgeStatus.NONE,),
        BridgeStatus.READY: (BridgeStatus.PREPARING,),
        BridgeStatus.JOINED: (BridgeStatus.PREPARING, BridgeStatus.READY),
        BridgeStatus.ENDED: LIVE_BRIDGE,
        BridgeStatus.FAILED: LIVE_BRIDGE,
    }
    # In which states the bridge may still learn each fact: the Stream call's id only while
    # it is being prepared, the agent's session also once the phone joined (the phone waits
    # only for the Stream call). A fact refused because the bridge ended or failed meanwhile
    # is known only to whoever learned it, who must release it.
    BRIDGE_FACTS: dict[str, tuple[str, ...]] = {
        "stream_call_id": (BridgeStatus.PREPARING,),
        "agent_session_id": (BridgeStatus.PREPARING, BridgeStatus.JOINED),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INITIATED)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)
    simulated = models.BooleanField(
        default=False, help_text="Placed through the embedded simulator."
    )

    # Which carrier carries the call; telephony.carrier.carrier_for(call) follows it.
    carrier = models.CharField(
        max_length=16, choices=Carrier.choices, default=Carrier.TELNYX, db_index=True
    )

    # The carrier's ids. call_control_id is the carrier's handle on this leg: Telnyx's
    # call_control_id, Twilio's CallSid. The leg and session ids are Telnyx's only.
    call_control_id = models.CharField(
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text="The carrier's id for this call leg (Telnyx call_control_id, Twilio CallSid).",
    )
    call_leg_id = models.CharField(max_length=64, blank=True, db_index=True)
    call_session_id = models.CharField(max_length=64, blank=True, db_index=True)

    # Timeline
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    streaming_started_at = models.DateTimeField(null=True, blank=True)
    streaming_stopped_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # When the far end started ringing: Telnyx's call.initiated for an outbound call (it
    # sends no separate ringing event), so ringing_at - created_at is the post-dial delay.
    ringing_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now, db_index=True)

    # How it ended
    hangup_cause = models.CharField(max_length=64, blank=True, db_index=True)
    hangup_source = models.CharField(max_length=32, blank=True)
    sip_hangup_cause = models.CharField(max_length=16, blank=True)
    call_quality_stats = models.JSONField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    amd_result = models.CharField("answering machine result", max_length=32, blank=True)

    # Media socket authentication: only a hash of the one-time token is stored.
    media_token_hash = models.CharField(max_length=64, blank=True)
    media_token_expires_at = models.DateTimeField(null=True, blank=True)
    media_token_used_at = models.DateTimeField(null=True, blank=True)

    # Media statistics, written once by the media session when the stream ends.
    stream_id = models.CharField(max_length=64, blank=True)
    media_encoding = models.CharField(max_length=16, blank=True)
    media_sample_rate = models.PositiveIntegerField(null=True, blank=True)
    frames_in = models.PositiveIntegerField(default=0)
    frames_out = models.PositiveIntegerField(default=0)
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    frames_missing = models.PositiveIntegerField(default=0)
    frames_late = models.PositiveIntegerField(default=0)
    frames_duplicate = models.PositiveIntegerField(default=0)
    frames_malformed = models.PositiveIntegerField(default=0)
    max_inbound_gap_ms = models.PositiveIntegerField(null=True, blank=True)
    underruns = models.PositiveIntegerField(default=0)
    max_lead_ms = models.PositiveIntegerField(null=True, blank=True)
    first_inbound_ms = models.PositiveIntegerField(null=True, blank=True)
    first_outbound_ms = models.PositiveIntegerField(null=True, blank=True)
    # Turns, latency, talk and interruptions (telephony.media.conversation's summary).
    conversation = models.JSONField(null=True, blank=True)
    # What the media session refused to keep, so a hostile or overloaded peer shows up here
    # rather than in lost calls: agent audio shed to keep latency bounded, caller audio that
    # ran ahead of the call's clock, and media events beyond the per-call storage caps.
    frames_shed = models.PositiveIntegerField(
        default=0, help_text="Agent audio frames dropped to keep the added latency bounded."
    )
    frames_early = models.PositiveIntegerField(
        default=0, help_text="Caller audio frames dropped for running ahead of the call's clock."
    )
    media_events_dropped = models.PositiveIntegerField(
        default=0, help_text="Media events (DTMF, errors, unknown) over the per-call caps."
    )
    # A snapshot of the live media figures (levels, lead, counters, conversation so far),
    # refreshed every few seconds by the media session while the call streams so the console
    # can show them and a worker crash loses at most that interval.
    live_media = models.JSONField(null=True, blank=True)

    # Recordings: our own two-channel WAV and Telnyx's URLs from call.recording.saved.
    recording = models.FileField(upload_to="recordings/%Y/%m/%d/", blank=True)
    telnyx_recording_urls = models.JSONField(default=list, blank=True)

    # Bridge to the agent (Stream call id and agent session, stored so any worker can use them).
    bridge = models.CharField(max_length=16, blank=True, choices=Bridge.choices)
    bridge_status = models.CharField(
        max_length=16, blank=True, db_index=True, choices=BridgeStatus.choices
    )
    bridge_error = models.TextField(blank=True)
    stream_call_id = models.CharField(max_length=128, blank=True)
    agent_session_id = models.CharField(max_length=128, blank=True)
    bridge_join_ms = models.PositiveIntegerField(null=True, blank=True)

    # Operator-supplied data passed to the agent (greeting, instructions) and dial options.
    custom_data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("dial_call", "Can place outbound calls")]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="call_status_created"),
            models.Index(fields=["direction", "-created_at"], name="call_direction_created"),
            models.Index(fields=["amd_result"], name="call_amd_result"),
        ]

    def __str__(self) -> str:
        return f"{self.from_number or '?'} → {self.to_number or '?'} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if self.answered_at and self.ended_at:
            return max(self.ended_at - self.answered_at, timedelta(0))
        return None

    @property
    def is_unanswered(self) -> bool:
        return self.status in self.UNANSWERED_STATUSES

    @property
    def ring_time(self) -> timedelta | None:
        """How long the phone rang: to the answer, or to the hangup of a call never answered.
        An inbound call rings from call.initiated (created_at); an outbound one from when
        Telnyx said it was dialing (ringing_at)."""
        start = self.ringing_at if self.direction == self.Direction.OUTBOUND else self.created_at
        end = self.answered_at or (self.ended_at if self.is_unanswered else None)
        if start is None or end is None:
            return None
        return max(end - start, timedelta(0))

    @property
    def post_dial_delay(self) -> timedelta | None:
        """Outbound only: from our dial to Telnyx's call.initiated."""
        if self.direction != self.Direction.OUTBOUND or self.ringing_at is None:
            return None
        return max(self.ringing_at - self.created_at, timedelta(0))

    @property
    def story(self) -> str:
        """How the call went, in an operator's words (calls/stories.py)."""
        from calls.stories import story  # stories reads calls; import here, not at the top

        return story(self)

    @classmethod
    def join(cls, a: str, b: str) -> str:
        """The least status at or above both `a` and `b` (the order is in the docstring)."""
        bounds = ({a} | cls.ABOVE[a]) & ({b} | cls.ABOVE[b])
        return next(s for s in bounds if bounds - {s} <= cls.ABOVE[s])

    # State transitions -------------------------------------------------------------

    def mark_ringing(self, *, at: datetime) -> bool:
        return self._advance(self.Status.RINGING, at=at, facts={"ringing_at": at})

    def mark_answered(self, *, at: datetime) -> bool:
        return self._advance(self.Status.ANSWERED, at=at, facts={"answered_at": at})

    def mark_streaming(self, *, at: datetime) -> bool:
        return self._advance(self.Status.STREAMING, at=at, facts={"streaming_started_at": at})

    def mark_streaming_stopped(self, *, at: datetime) -> None:
        # The stream is a fork of the call: the call itself goes on, so the status stays.
        self._record_once(streaming_stopped_at=at)

    def restarted_stream_since(self, at: datetime) -> bool:
        """Whether a new stream replaced the call's stream at or after `at` (written out,
        calls/sql.py: every stream's end asks, in the webhook and in the recovery check)."""
        where = (("call", "="), ("type", "="), ("occurred_at", ">="))
        return sql.first(CallEvent, ("id",), where, [self.pk, "media.restarted", at]) is not None

    def mark_ended(
        self,
        *,
        at: datetime,
        cause: str = "",
        source: str = "",
        sip_cause: str = "",
        quality_stats: dict[str, Any] | None = None,
    ) -> bool:
        # What the hangup says, the provisional end it replaces and the token's expiry go in
        # the UPDATE that moves the status: one statement for the usual hangup.
        updates = self._end_updates(
            at=at, cause=cause, source=source, sip_cause=sip_cause, quality_stats=quality_stats
        )
        never_connected = self._unanswered_status(cause)
        if never_connected is None:
            return self._advance(self.Status.ENDED, at=at, also=updates)
        # Whether it was answered is read by the UPDATE that moves the status, so a
        # call.answered racing this hangup on another worker is never lost: either it landed
        # first (ended), or it comes after and joins the unanswered status into ended.
        return self._advance(
            self.Status.ENDED, at=at, answered=True, also=updates
        ) or self._advance(never_connected, at=at, answered=False)

    def _unanswered_status(self, cause: str) -> str | None:
        """What a hangup with `cause` makes of the call if it was never answered."""
        if cause in self.CONNECTED_CAUSES:
            return None
        if self.direction == self.Direction.INBOUND:
            return self.Status.MISSED
        return self.OUTBOUND_UNANSWERED.get(cause, self.Status.NO_ANSWER)

    # The cause phonebridge writes when it closes a call whose end it never heard of
    # (telephony.reconcile). It is a placeholder: the carrier's own hangup, should it arrive
    # after all, replaces it, whichever of the two lands first.
    RECONCILED_CAUSE = "reconciled"

    def _end_updates(
        self,
        *,
        at: datetime,
        cause: str,
        source: str,
        sip_cause: str,
        quality_stats: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """UPDATE expressions for a hangup (and this copy brought up to date with them):

        - each fact recorded once, where it is still unknown (`_once_updates`);
        - a carrier's own cause replaces a provisional end (RECONCILED_CAUSE) with its
          source, SIP cause and time; the CASEs read the row as it is when the UPDATE runs,
          so whichever of the two lands first, the carrier's words stay;
        - the media token expires at the hangup (if it had not already).
        """
        facts = {
            "ended_at": at,
            "hangup_cause": cause,
            "hangup_source": source,
            "sip_hangup_cause": sip_cause,
            "call_quality_stats": quality_stats,
        }
        known = {k: v for k, v in facts.items() if v not in (None, "")}
        updates = self._once_updates(known)
        if cause and cause != self.RECONCILED_CAUSE:
            replaced = {
                "hangup_cause": cause,
                "hangup_source": source,
                "sip_hangup_cause": sip_cause,
                "ended_at": at,
            }
            for name, value in replaced.items():
                updates[name] = sql.Unless(
                    "hangup_cause", self.RECONCILED_CAUSE, value, otherwise=updates.get(name)
                )
            if self.hangup_cause == self.RECONCILED_CAUSE:
                for name, value in replaced.items():
                    setattr(self, name, value)
        self._remember_once(known)
        return {**updates, **self._token_expiry(at)}

    def mark_failed(self, *, reason: str, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        self._record_once(failure_reason=reason, ended_at=at)
        self._expire_media_token(at)
        return self._advance(self.Status.FAILED, at=at)

    @classmethod
    async def amove_bridge(cls, pk: uuid.UUID, status: str, **values: Any) -> bool:
        """Move the call's bridge to `status` (writing `values` with it) if BRIDGE_MOVES allows
        it from where the bridge is. True when this worker made the move."""
        moved = cls.objects.filter(pk=pk, bridge_status__in=cls.BRIDGE_MOVES[status])
        return bool(await moved.aupdate(bridge_status=status, **values))

    @classmethod
    async def arecord_bridge_fact(cls, pk: uuid.UUID, field: str, value: str) -> bool:
        """Store what preparation learned if the bridge may still learn it (BRIDGE_FACTS).
        True when it was stored."""
        wanting = cls.objects.filter(pk=pk, bridge_status__in=cls.BRIDGE_FACTS[field])
        return bool(await wanting.aupdate(**{field: value}))

    def record_amd_result(self, result: str) -> None:
        self._record_once(amd_result=result)

    def touch(self) -> None:
        """Note activity (a webhook, a stream) so reconciliation leaves the call alone."""
        now = timezone.now()
        sql.update(Call, self.pk, {"last_activity_at": now})
        self.last_activity_at = now

    def _advance(
        self,
        status: str,
        *,
        at: datetime,
        answered: bool | None = None,
        facts: dict[str, Any] | None = None,
        also: dict[str, Any] | None = None,
    ) -> bool:
        """Move the call to the join of its status and `status` (one conditional UPDATE per
        possible starting point; at most one matches), recording `facts` once (as
        `_record_once`) in the same UPDATE. True when this worker moved it to `status`
        itself; a move to a higher join (a late answer to a missed call) is recorded but
        reported as False, since the call did not become `status`. `answered` limits the
        move to a call that was (True) or was not (False) answered; `also` are assignments
        (calls.sql) written with the move, or on their own when nothing moves.

        The usual case (the call is where the event expects it) is one UPDATE and one state
        event; inside `batched_events` that event joins the caller's own in one INSERT.
        """
        now = timezone.now()
        known = self._news(facts or {})
        fact_updates = {**self._once_updates(known), **(also or {})}
        moved_to = ""
        # Statuses only go up, so the database's is at or above this copy's: a move from
        # below it cannot match, and is not tried (a redelivered event moves nothing).
        possible = {self.status} | self.ABOVE[self.status]
        # No savepoint of its own: the UPDATE and its state event stand or fall with the
        # caller's transaction, or form one when there is none.
        with transaction.atomic(savepoint=False):
            for target, all_sources in _moves_towards(status).items():
                sources = [s for s in all_sources if s in possible]
                if not sources:
                    continue
                moves = {"status": target, "last_activity_at": now, **fact_updates}
                null = None if answered is None else {"answered_at": not answered}
                if sql.update(Call, self.pk, moves, within={"status": sources}, null=null):
                    moved_to = target
                    self._add_event(
                        CallEvent(
                            call_id=self.pk,
                            event_id=f"state:{self.pk}:{target}",
                            source=CallEvent.Source.STATE,
                            type=f"state.{target}",
                            occurred_at=at,
                            payload={"status": target},
                        )
                    )
                    break
            else:
                if fact_updates:  # nothing moved, but the facts are news all the same
                    sql.update(Call, self.pk, fact_updates)
        self._remember_once(known)
        if moved_to:
            self.status, self.last_activity_at = moved_to, now
        else:
            self.refresh_from_db(fields=["status"])
        return moved_to == status

    @contextlib.contextmanager
    def batched_events(self, *first: CallEvent) -> Iterator[None]:
        """Write `first` and the state events of the transitions made inside in one INSERT,
        at the end, instead of one INSERT each (a webhook and the move it causes). Use it
        inside a transaction: otherwise a move would be visible before its event."""
        self._batch = list(first)
        try:
            yield
            sql.insert(CallEvent, self._batch, CallEvent.STORED_FIELDS)
        finally:
            self._batch = None

    def _add_event(self, event: CallEvent) -> None:
        if self._batch is None:
            event.save(force_insert=True)
        else:
            self._batch.append(event)

    def _record_once(self, **facts: Any) -> None:
        """Store each fact only if it is not known yet (empty string or None mean unknown).

        One UPDATE whatever the race: the database keeps the first value. The in-memory copy
        takes the new value only where it had none, which is what the database did unless
        another worker got there first.
        """
        known = self._news(facts)
        if not known:
            return
        sql.update(Call, self.pk, self._once_updates(known))
        self._remember_once(known)

    def _news(self, facts: dict[str, Any]) -> dict[str, Any]:
        """The facts that say something and that this copy does not know yet. A fact this
        copy knows is known to the database too (facts are never unset), so an UPDATE for it
        would change nothing."""
        return {
            k: v for k, v in facts.items() if v not in (None, "") and getattr(self, k) in (None, "")
        }

    def _once_updates(self, known: dict[str, Any]) -> dict[str, Any]:
        """Assignments that set each field of `known` only where it is still unknown."""
        return {field: sql.Once(value) for field, value in known.items()}

    def _remember_once(self, known: dict[str, Any]) -> None:
        for field, value in known.items():
            if getattr(self, field) in (None, ""):
                setattr(self, field, value)

    # Media token ---------------------------------------------------------------------

    def issue_media_token(self, *, ttl_seconds: int) -> str:
        """A fresh random token (256 bits) for the media URL; only its hash is kept."""
        token = secrets.token_urlsafe(32)
        self.media_token_hash = _hash_token(token)
        self.media_token_expires_at = timezone.now() + timedelta(seconds=ttl_seconds)
        self.media_token_used_at = None
        if not self._state.adding:
            self.save(
                update_fields=["media_token_hash", "media_token_expires_at", "media_token_used_at"]
            )
        return token

    def media_token_matches(self, token: str) -> bool:
        """Constant-time check that `token` is this call's current, unused, unexpired token."""
        if not self.media_token_hash or self.media_token_used_at or not self.is_live:
            return False
        if self.media_token_expires_at is None or self.media_token_expires_at <= timezone.now():
            return False
        return hmac.compare_digest(self.media_token_hash, _hash_token(token))

    def claim_media_token(self) -> bool:
        """Use the token up: only one media socket per token, even across workers."""
        now = timezone.now()
        won = sql.update(
            Call,
            self.pk,
            {"media_token_used_at": now, "last_activity_at": now},
            within={"status": self.LIVE_STATUSES},
            null={"media_token_used_at": True},
        )
        self.media_token_used_at = now if won else self.media_token_used_at
        return bool(won)

    def _expire_media_token(self, at: datetime) -> None:
        sql.update(Call, self.pk, self._token_expiry(at))

    def _token_expiry(self, at: datetime) -> dict[str, Any]:
        """The assignment that expires the media token at `at` if it had not already (and
        this copy brought up to date with it)."""
        if self.media_token_expires_at is not None and self.media_token_expires_at > at:
            self.media_token_expires_at = at
        return {"media_token_expires_at": sql.AtMost(at)}


@functools.cache
def _moves_towards(status: str) -> dict[str, tuple[str, ...]]:
    """Where a call at each status goes when an event points at `status`, grouped by the
    destination: {join: (statuses that join to it)}, leaving out those already there."""
    moves: dict[str, list[str]] = {}
    for current in Call.Status.values:
        target = Call.join(current, status)
        if target != current:
            moves.setdefault(target, []).append(current)
    return {target: tuple(sources) for target, sources in moves.items()}


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CallEvent(models.Model):
    """One row per received webhook, media-side event or state change: the call's history."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        MEDIA = "media", "Media stream"
        STATE = "state", "State change"
        SYSTEM = "system", "phonebridge"
        OPERATOR = "operator", "Operator"

    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, related_name="events", null=True, blank=True
    )
    # Telnyx's data.id for webhooks; generated ids for the other sources.
    event_id = models.CharField(max_length=128, unique=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEBHOOK)
    type = models.CharField(max_length=64, db_index=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["call", "occurred_at"], name="event_call_occurred")]

    def __str__(self) -> str:
        return f"{self.type} @ {self.occurred_at:%H:%M:%S}"

    # The columns an event is stored with (calls.sql.insert writes them).
    STORED_FIELDS = ("call", "event_id", "source", "type", "occurred_at", "received_at", "payload")

    @staticmethod
    def is_stored(event_id: str) -> bool:
        """Whether an event with this id was stored: how a redelivered webhook is told
        (written out, calls/sql.py: every webhook asks)."""
        return sql.exists(CallEvent, "event_id", event_id)

    @classmethod
    def note(
        cls, call_id: uuid.UUID, *, source: str, type: str, payload: dict[str, Any]
    ) -> CallEvent:
        """Record something phonebridge itself saw (a media event, a bridge step, ...) now."""
        event = cls(
            call_id=call_id,
            event_id=f"{source}:{uuid.uuid4()}",
            source=source,
            type=type,
            occurred_at=timezone.now(),
            payload=payload,
        )
        sql.create(event)
        return event


class CarrierCommand(models.Model):
    """Every request sent to a carrier's REST API (Telnyx's Call Control commands, Twilio's
    Calls/Recordings requests): one row per logical command, however many attempts."""

    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, related_name="commands", null=True, blank=True
    )
    carrier = models.CharField(
        max_length=16, choices=Call.Carrier.choices, default=Call.Carrier.TELNYX, db_index=True
    )
    name = models.CharField(max_length=64, db_index=True)
    command_id = models.UUIDField(null=True, blank=True)
    method = models.CharField(max_length=8, default="POST")
    path = models.CharField(max_length=512)
    request_body = models.JSONField(default=dict, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error_code = models.CharField(max_length=16, blank=True, db_index=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_detail = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["call", "created_at"], name="command_call_created")]

    def __str__(self) -> str:
        outcome = "ok" if self.ok else (self.error_code or self.status_code or "pending")
        return f"{self.name} ({outcome})"
