"""What the console's polling asks: "has anything changed?", cheaply, and if so, what.

A page polls every few seconds for as long as an operator keeps it open, so an unchanged
answer must cost one small indexed query. Every transition and every webhook moves
`Call.last_activity_at` forward (see Call._advance and Call.touch), so the newest
`last_activity_at` is a marker that changes whenever the list of live calls can have.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import SuspiciousOperation
from django.db.models import Case, Max, OuterRef, Q, QuerySet, Subquery, When
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone

from calls.models import Call, CallEvent, CarrierCommand

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

# Calls that ended this recently are still shown in the live panel, so an operator sees
# how a call finished instead of watching it vanish.
RECENT = timedelta(minutes=2)
# The live panel sits above the history table: a campaign with hundreds of live calls must
# not push the table off the screen, so it shows this many rows, a count and a link.
PANEL_ROWS = 10
# The list page's own parameters that are not filters of the panel.
_NOT_FILTERS = ("p", "o", "e", "all", "_popup", "_to_field")
_SUMMARY_FIELDS = (
    "id",
    "direction",
    "carrier",
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


def summary(call: Call) -> dict[str, Any]:
    duration = call.duration
    return {
        "id": str(call.pk),
        "url": reverse("admin:calls_call_change", args=[call.pk]),
        "direction": call.direction,
        "carrier": call.carrier,
        "carrier_label": call.get_carrier_display(),
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
        "hangup_url": reverse("admin:calls_call_control", args=[call.pk, "hangup"]),
    }


# The live panel: the list page's filters, a bounded number of rows, a count and a link.


class _FiltersOnly(ChangeList):
    """The list page's filters and search without its page of results: the panel needs the
    queryset only, and the paginator's COUNT over the filtered history is not free."""

    def get_results(self, request: HttpRequest) -> None:
        return None


def filtered(model_admin: ModelAdmin[Call], request: HttpRequest, query: str) -> QuerySet[Call]:
    """The calls the list page at `?query` shows: its filters, search and date drill-down,
    applied by the admin's own ChangeList so the panel and the table never disagree. Raises
    IncorrectLookupParameters for parameters the list page would refuse too."""
    params = QueryDict(query, mutable=True)
    for name in _NOT_FILTERS:
        params.pop(name, None)
    scoped = copy.copy(request)
    scoped.GET = QueryDict(params.urlencode())
    display = model_admin.get_list_display(request)
    try:
        changelist = _FiltersOnly(
            scoped,
            Call,
            display,
            model_admin.get_list_display_links(request, display),
            model_admin.get_list_filter(request),
            model_admin.date_hierarchy,
            model_admin.get_search_fields(request),
            model_admin.get_list_select_related(request),
            model_admin.list_per_page,
            model_admin.list_max_show_all,
            model_admin.list_editable,
            model_admin,
            # django-stubs types ModelAdmin.get_sortable_by() wider than ChangeList takes.
            model_admin.get_sortable_by(request),  # type: ignore[arg-type]
            str(model_admin.search_help_text or ""),
        )
    except SuspiciousOperation as exc:  # a lookup the admin does not allow
        raise IncorrectLookupParameters(str(exc)) from exc
    return changelist.queryset


def panel(model_admin: ModelAdmin[Call], request: HttpRequest, query: str) -> dict[str, Any]:
    """What the live panel shows for the list page at `?query`: live calls first, then those
    that ended moments ago, at most PANEL_ROWS of them, with the number of live calls that
    match and a link to all of them in the table."""
    try:
        calls = filtered(model_admin, request, query)
        invalid = False
    except IncorrectLookupParameters:
        # The table below shows its own error for these; the panel still shows every call.
        calls, invalid = Call.objects.all(), True
    since = timezone.now() - RECENT
    shown = (
        calls.filter(Q(status__in=Call.LIVE_STATUSES) | Q(last_activity_at__gte=since))
        .only(*_SUMMARY_FIELDS)
        .annotate(finished=Case(When(status__in=Call.LIVE_STATUSES, then=0), default=1))
        .order_by("finished", "-created_at")[:PANEL_ROWS]
    )
    rows = [summary(call) for call in shown]
    live_count = calls.filter(status__in=Call.LIVE_STATUSES).count()
    params = QueryDict("" if invalid else query, mutable=True)
    for name in (*_NOT_FILTERS, "live", "status", "status__exact"):
        params.pop(name, None)
    params["live"] = "yes"
    return {
        "calls": rows,
        "live_count": live_count,
        "live_shown": sum(1 for row in rows if row["live"]),
        "all_live_url": f"{reverse('admin:calls_call_changelist')}?{params.urlencode()}",
        "filtered": not invalid and bool(QueryDict(query).keys() - set(_NOT_FILTERS)),
        "filters_invalid": invalid,
        "can_hang_up": model_admin.has_change_permission(request),
    }


def _latest(model: type[CallEvent | CarrierCommand], field: str) -> Subquery:
    rows = model.objects.filter(call=OuterRef("pk")).order_by().values("call")
    return Subquery(rows.annotate(latest=Max(field)).values("latest")[:1])


def call_marker(call_id: uuid.UUID | str) -> tuple[str, Call] | None:
    """A fingerprint of everything the detail page shows, in one query (None: no such call).

    Commands are logged when sent and updated when the carrier answers, and media statistics and
    the recording are written when the stream ends without a transition, so the fingerprint
    covers them as well as `last_activity_at`.
    """
    call = (
        Call.objects.filter(pk=call_id)
        .annotate(
            last_event=_latest(CallEvent, "id"),
            last_command=_latest(CarrierCommand, "id"),
            last_finished=_latest(CarrierCommand, "finished_at"),
        )
        .only(
            "status",
            "last_activity_at",
            "ended_at",
            "frames_in",
            "recording",
            "bridge_status",
            "live_media",
        )
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
        # The media session refreshes its snapshot without a transition.
        call.live_media,
    )
    digest = hashlib.blake2s("|".join(map(str, parts)).encode(), digest_size=8).hexdigest()
    return digest, call


def keeps_changing(call: Call) -> bool:
    """Whether the detail page should keep polling: while live, and a moment after the end,
    when the media statistics, the recording and the last webhooks arrive."""
    if call.is_live:
        return True
    return call.ended_at is not None and timezone.now() - call.ended_at < RECENT
