"""The operator console: live and past calls, one call's story, dialing and steering calls.

Custom pages and endpoints live in calls/admin_views.py and are mounted through get_urls();
templates under templates/admin/ extend Django's and override single blocks.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from calls import audit, dashboard
from calls.admin_filters import (
    AnsweredByFilter,
    DateRangeFilter,
    DurationFilter,
    HangupCauseFilter,
    HasRecordingFilter,
    LiveFilter,
    with_duration,
)
from calls.admin_views import CallConsole
from calls.detail import carrier_badge, clock, detail_context, render_fragments, status_badge
from calls.export import CHUNK_SIZE, csv_response, export_changelist
from calls.forms import DtmfForm, TransferForm
from calls.live import call_marker
from calls.models import Call, CallEvent, CarrierCommand
from calls.redaction import redact
from calls.waveform_views import waveform_urls
from telephony import actions
from telephony.carrier import CarrierError

admin.site.site_header = "phonebridge"
admin.site.site_title = "phonebridge"
admin.site.index_title = "Operator console"
# Three models do not need a navigation sidebar; the call list needs the width.
admin.site.enable_nav_sidebar = False

_NUMBER_LIKE = re.compile(r"^\+?[\d\s().-]{3,}$")
# The first characters of a call id or command id, as an operator copies them from a log.
_ID_PREFIX = re.compile(r"^[0-9a-f]{6,}(-[0-9a-f]{0,12}){0,4}$", re.IGNORECASE)
OUTCOME_CHARS = 60


# The lists' times are in the server's TIME_ZONE; headers say which (read when shown).
def _header(label: str) -> str:
    return lazy(lambda: f"{label} ({timezone.get_current_timezone_name()})", str)()


_STARTED_HEADER = _header("Started")
_OCCURRED_HEADER = _header("Occurred")
_SENT_HEADER = _header("Sent")


def exact_time(value: datetime) -> str:
    """One date format everywhere, to the millisecond where events are compared."""
    return timezone.localtime(value).strftime("%Y-%m-%d\u00a0%H:%M:%S.%f")[:-3]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = (
        "started",
        "direction_arrow",
        "carrier_column",
        "status_column",
        "from_number",
        "to_number",
        "duration_column",
        "hangup_cause",
        "outcome_column",
        "agent_outcome",
    )
    list_display_links = ("started",)
    list_filter = (
        LiveFilter,
        "status",
        "direction",
        "carrier",
        "created_at",
        DateRangeFilter,
        DurationFilter,
        HangupCauseFilter,
        HasRecordingFilter,
        AnsweredByFilter,
        "bridge_status",
        "simulated",
    )
    search_fields = (
        "from_number",
        "to_number",
        "call_control_id",
        "call_leg_id",
        "call_session_id",
        "stream_id",
        "stream_call_id",
        "agent_session_id",
        "telnyx_recording_urls",
        "hangup_cause",
        "failure_reason",
        "bridge_error",
    )
    search_help_text = (
        "A phone number (any part of it), a hangup cause, words of a failure, or any Telnyx, "
        "Twilio (a CallSid) or phonebridge id (or the first 6+ characters of one)."
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
    empty_value_display = "—"
    # COUNT(*) over a table that grows by every call of every campaign is not worth it.
    show_full_result_count = False
    actions = ("export_csv", "dial_again", "hang_up_calls")
    fieldsets = (
        (
            "Carrier",
            {"fields": ("id", "carrier", "call_control_id", "call_leg_id", "call_session_id")},
        ),
        (
            "Times",
            {
                "classes": ["collapse"],
                "fields": (
                    "created_at",
                    "answered_at",
                    "streaming_started_at",
                    "streaming_stopped_at",
                    "ended_at",
                    "last_activity_at",
                ),
            },
        ),
        (
            "How it ended",
            {
                "classes": ["collapse"],
                "fields": (
                    "hangup_cause",
                    "hangup_source",
                    "sip_hangup_cause",
                    "failure_reason",
                    "amd_result",
                    "call_quality_stats",
                ),
            },
        ),
        (
            "Agent",
            {
                "classes": ["collapse"],
                "fields": (
                    "bridge",
                    "bridge_status",
                    "bridge_error",
                    "stream_call_id",
                    "agent_session_id",
                    "bridge_join_ms",
                    "custom_data",
                ),
            },
        ),
    )
    readonly_fields = [f.name for f in Call._meta.fields]

    # Permissions -----------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # calls are placed from the Dial page, or arrive from a carrier

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        # Webhooks and the media stream write a call row while it lives; a whole-row save
        # from the admin could undo a transition that raced it. So the detail page is
        # read-only, and the model-level change permission only gates operator actions.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_dial_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("calls.dial_call")

    def has_delete_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False  # the record is kept; retention is `manage.py purge_calls`

    def get_queryset(self, request: HttpRequest) -> QuerySet[Call]:
        return with_duration(super().get_queryset(request))

    # URLs and pages --------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export/", self.admin_site.admin_view(self.export_view), name="calls_call_export"
        )
        return [
            *dashboard.urls(self),
            *CallConsole(self).urls(),
            *waveform_urls(self),
            export,
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The whole filtered list as CSV: the same filters, search and order as the page."""
        return export_changelist(self, request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            "can_dial": self.has_dial_permission(request),
            "simulate_from": f"+1555010{random.randint(0, 9999):04d}",
            "simulators": simulators(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The marker first, then what the page shows: a change landing in between then makes
        # the page's marker stale, so its next poll refreshes it. The other way round, the
        # page could show the old state under the new marker and never update.
        found = call_marker(object_id) if _is_uuid(object_id) else None
        call = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if call is not None:
            context.update(self._detail_extra(request, call, found[0] if found else ""))
        return super().change_view(request, object_id, form_url, context)

    def _detail_extra(self, request: HttpRequest, call: Call, marker: str) -> dict[str, Any]:
        return {
            "call": call,
            "fragments": render_fragments(request, detail_context(call)),
            "live_marker": marker,
            "can_operate": call.is_live and self.has_change_permission(request),
            "can_transfer": self.has_dial_permission(request),  # a transfer dials a new leg
            "transfer_form": TransferForm(),
            "dtmf_form": DtmfForm(),
        }

    # Search ----------------------------------------------------------------------------

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Call], search_term: str
    ) -> tuple[QuerySet[Call], bool]:
        term = search_term.strip()
        if _NUMBER_LIKE.match(term):
            # "+1 (555) 123-4567" finds +15551234567: numbers are stored in E.164.
            term = re.sub(r"[\s().-]", "", term)
        found, duplicates = super().get_search_results(request, queryset, term)
        extra = _id_matches(term)
        if extra is not None:
            found = found | queryset.filter(extra)
        return found, duplicates

    # List columns ----------------------------------------------------------------------

    @admin.display(description=_STARTED_HEADER, ordering="created_at")
    def started(self, call: Call) -> str:
        return date_format(timezone.localtime(call.created_at), "Y-m-d\u00a0H:i:s")

    @admin.display(description="Dir.", ordering="direction")
    def direction_arrow(self, call: Call) -> SafeString:
        arrow = "← in" if call.direction == Call.Direction.INBOUND else "→ out"
        return format_html('<span title="{}">{}</span>', call.get_direction_display(), arrow)

    @admin.display(description="Carrier", ordering="carrier")
    def carrier_column(self, call: Call) -> SafeString:
        return carrier_badge(call)

    @admin.display(description="Status", ordering="status")
    def status_column(self, call: Call) -> SafeString:
        return status_badge(call)

    @admin.display(description="Duration", ordering="duration_value")
    def duration_column(self, call: Call) -> SafeString | str:
        if call.duration is not None:
            return clock(call.duration.total_seconds())
        if call.is_live and call.answered_at:
            return format_html(
                '<span data-elapsed-since="{}">live</span>', call.answered_at.isoformat()
            )
        return "—"

    @admin.display(description="Outcome")
    def outcome_column(self, call: Call) -> SafeString | str:
        """The story, shortened with an ellipsis; whole on hover and on the detail page."""
        story = call.story
        if not story:
            return "—"
        short = Truncator(story).chars(OUTCOME_CHARS)
        css = "pb-outcome pb-error" if call.status == Call.Status.FAILED else "pb-outcome"
        return format_html('<span class="{}" title="{}">{}</span>', css, story, short)

    @admin.display(description="Agent")
    def agent_outcome(self, call: Call) -> SafeString | str:
        parts = []
        if call.bridge_status:
            parts.append(
                format_html("<span title='{}'>{}</span>", call.bridge_error, call.bridge_status)
            )
        if call.amd_result:
            parts.append(format_html("AMD: {}", call.amd_result))
        return format_html_join(" · ", "{}", ((p,) for p in parts)) if parts else "—"

    # Actions ---------------------------------------------------------------------------

    @admin.action(description="Export selected calls to CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Call]) -> HttpResponseBase:
        calls = queryset.order_by("created_at").iterator(chunk_size=CHUNK_SIZE)
        return csv_response(request, calls)

    @admin.action(description="Dial again", permissions=["dial"])
    def dial_again(
        self, request: HttpRequest, queryset: QuerySet[Call]
    ) -> HttpResponseRedirect | None:
        calls = list(queryset[:2])
        if len(calls) != 1:
            self.message_user(request, "Choose one call to dial again.", messages.WARNING)
            return None
        initial = redial_initial(calls[0])
        audit.record(request, calls[0], "dial_again", outcome="opened the Dial form", **initial)
        query = urlencode(initial)
        return HttpResponseRedirect(f"{reverse('admin:calls_call_dial')}?{query}")

    @admin.action(description="Hang up selected live calls", permissions=["change"])
    def hang_up_calls(self, request: HttpRequest, queryset: QuerySet[Call]) -> None:
        live = list(queryset.filter(status__in=Call.LIVE_STATUSES))
        if not live:
            self.message_user(request, "None of the selected calls is live.", messages.WARNING)
            return
        for call in live:
            try:
                async_to_sync(actions.hang_up)(call=call)
            except CarrierError as exc:
                self.message_user(request, f"{call}: {exc.for_humans()}", messages.ERROR)
                audit.record(request, call, "hang_up", outcome=exc.for_humans())
            else:
                self.message_user(request, f"{call}: hang-up sent.", messages.SUCCESS)
                audit.record(request, call, "hang_up", outcome="sent")


def simulators() -> list[tuple[str, str]]:
    """The carriers whose embedded simulator is on, PHONEBRIDGE_CARRIER's first: "Simulate
    inbound call" rings the first unless the operator picks another."""
    on = [
        (value, label)
        for value, label in Call.Carrier.choices
        if getattr(settings, f"{value.upper()}_SIMULATOR", False)
    ]
    return sorted(on, key=lambda carrier: carrier[0] != settings.PHONEBRIDGE_CARRIER)


def redial_initial(call: Call) -> dict[str, str]:
    """The Dial form for calling this call's other party again from our number."""
    if call.direction == Call.Direction.INBOUND:
        to, from_ = call.from_number, call.to_number
    else:
        to, from_ = call.to_number, call.from_number
    data = call.custom_data if isinstance(call.custom_data, dict) else {}
    # The number it was placed from (or reached) names its carrier, so the new dial goes out
    # on the same carrier (telephony.dialing.carrier_for_number).
    fallback = (
        settings.TWILIO_PHONE_NUMBER
        if call.carrier == Call.Carrier.TWILIO
        else settings.TELNYX_PHONE_NUMBER
    )
    initial = {"to": to, "from_number": from_ or fallback}
    for key in ("amd", "greeting", "instructions"):
        if isinstance(data.get(key), str) and data[key]:
            initial[key] = data[key]
    return initial


def _id_matches(term: str) -> Q | None:
    """Our own call ids and Telnyx command ids are UUIDs: match them exactly, or by their
    first characters (UUID lookups ignore the hyphens, on SQLite and PostgreSQL alike).
    Carrier leg ids (a Twilio CallSid "CA…") are matched by search_fields' call_control_id."""
    try:
        value = uuid.UUID(term)
    except ValueError:
        if not _ID_PREFIX.match(term):
            return None
        commanded = CarrierCommand.objects.filter(command_id__istartswith=term).values("call_id")
        return Q(pk__istartswith=term) | Q(pk__in=commanded)
    commanded = CarrierCommand.objects.filter(command_id=value).values("call_id")
    return Q(pk=value) | Q(pk__in=commanded)


@admin.register(CallEvent)
class CallEventAdmin(admin.ModelAdmin):
    list_display = ("occurred", "type", "source", "call")
    ordering = ("-occurred_at", "-id")  # newest first, like the call list
    list_filter = ("source", "type")
    search_fields = ("event_id", "type")
    list_select_related = ("call",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    # The stored payload is shown through redact(): never a media token (calls/redaction.py).
    exclude = ("payload",)
    readonly_fields = (
        "call",
        "event_id",
        "source",
        "type",
        "occurred_at",
        "received_at",
        "payload_shown",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CallEvent | None = None) -> bool:
        return False  # the record of what happened is not edited

    def has_delete_permission(self, request: HttpRequest, obj: CallEvent | None = None) -> bool:
        return False  # nor deleted, except by retention (`manage.py purge_calls`)

    @admin.display(description=_OCCURRED_HEADER, ordering="occurred_at")
    def occurred(self, event: CallEvent) -> str:
        return exact_time(event.occurred_at)

    @admin.display(description="Payload")
    def payload_shown(self, event: CallEvent) -> SafeString:
        return _json_block(event.payload)


@admin.register(CarrierCommand)
class CarrierCommandAdmin(admin.ModelAdmin):
    list_display = (
        "sent",
        "carrier",
        "name",
        "ok",
        "status_code",
        "error_code",
        "attempts",
        "latency_ms",
        "call",
    )
    list_filter = ("carrier", "ok", "name", "error_code")
    ordering = ("-created_at", "-id")  # newest first, like the call list
    search_fields = ("command_id", "path", "error_detail")
    list_select_related = ("call",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ("request_body",)  # shown through redact(), as request_shown
    readonly_fields = [
        *(f.name for f in CarrierCommand._meta.fields if f.name != "request_body"),
        "request_shown",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: CarrierCommand | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: CarrierCommand | None = None
    ) -> bool:
        return False  # kept, like the calls; retention is `manage.py purge_calls`

    @admin.display(description=_SENT_HEADER, ordering="created_at")
    def sent(self, command: CarrierCommand) -> str:
        return exact_time(command.created_at)

    @admin.display(description="Request body")
    def request_shown(self, command: CarrierCommand) -> SafeString:
        return _json_block(command.request_body)


def _json_block(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(redact(value), indent=2, sort_keys=True))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
