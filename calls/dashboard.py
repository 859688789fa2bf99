"""The console's landing page: live now, today's calls, answer rate, failures by reason,
median turn latency, and calls per hour over the last 24 hours.

Every figure is one aggregate query bounded to today (local midnight in TIME_ZONE) or the
last 24 hours, over the created_at index: the page costs the same with a year of history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, FloatField, Q, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, NullIf, Substr, TruncHour
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from calls.models import Call

if TYPE_CHECKING:
    from calls.admin import CallAdmin

HOURS = 24
TOP_REASONS = 8
# Failure reasons are free text; grouping on their first characters keeps one carrier error
# with a long detail in one group, and the page bounded.
REASON_CHARS = 120
# The plot's drawing box, in SVG user units (it scales with the page).
PLOT_WIDTH, PLOT_HEIGHT, PLOT_BASE = 480, 120, 104


@dataclass(frozen=True)
class HourBar:
    start: datetime  # local time
    calls: int
    failed: int
    x: float
    width: float
    height: float
    failed_height: float

    @property
    def y(self) -> float:
        return PLOT_BASE - self.height

    @property
    def failed_y(self) -> float:
        return PLOT_BASE - self.failed_height

    @property
    def label(self) -> str:
        return self.start.strftime("%H")

    @property
    def show_label(self) -> bool:
        return self.start.hour % 3 == 0


def figures(now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = Call.objects.filter(created_at__gte=midnight)
    carriers = by_carrier(today, midnight)
    # Today's totals are the carriers' sums: one GROUP BY serves both.
    counts = {
        key: sum(row[key] for row in carriers) for key in ("calls", "answered", "decided", "failed")
    }
    decided = counts["decided"]
    return {
        "now": timezone.localtime(now),
        "midnight": midnight,
        "live_now": Call.objects.filter(status__in=Call.LIVE_STATUSES).count(),
        "calls_today": counts["calls"],
        "answered_today": counts["answered"],
        "decided_today": decided,
        "answer_rate": round(100 * counts["answered"] / decided) if decided else None,
        "failed_today": counts["failed"],
        "failures": failures_by_reason(today),
        "carriers": carriers,
        "median_latency_ms": median_turn_latency(today),
        "hours": calls_per_hour(now),
        "links": _links(midnight),
        "plot": {"width": PLOT_WIDTH, "height": PLOT_HEIGHT, "base": PLOT_BASE},
    }


def by_carrier(calls: QuerySet[Call], midnight: datetime) -> list[dict[str, Any]]:
    """Today's calls, answers and failures per carrier (one GROUP BY), each with a link to
    its calls; only the carriers that carried a call today. Shown when there are two."""
    rows = (
        calls.values("carrier")
        .annotate(
            calls=Count("pk"),
            answered=Count("pk", filter=Q(answered_at__isnull=False)),
            # Calls still ringing have not answered yet, nor failed to: they count once decided.
            decided=Count(
                "pk", filter=Q(answered_at__isnull=False) | Q(status__in=Call.FINAL_STATUSES)
            ),
            failed=Count("pk", filter=Q(status=Call.Status.FAILED)),
        )
        .order_by("carrier")
    )
    labels = dict(Call.Carrier.choices)
    today = _links(midnight)["today"]
    return [
        {
            **row,
            "label": labels.get(row["carrier"], row["carrier"]),
            "answer_rate": round(100 * row["answered"] / row["decided"])
            if row["decided"]
            else None,
            "link": f"{today}&{urlencode({'carrier__exact': row['carrier']})}",
        }
        for row in rows
    ]


def failures_by_reason(calls: QuerySet[Call]) -> list[dict[str, Any]]:
    """The most frequent reasons among failed calls, most frequent first."""
    reason = Coalesce(
        NullIf(Substr("failure_reason", 1, REASON_CHARS), Value("")),
        NullIf(F("hangup_cause"), Value("")),
        Value("no reason recorded"),
    )
    rows = (
        calls.filter(status=Call.Status.FAILED)
        .annotate(reason=reason)
        .values("reason")
        .annotate(calls=Count("pk"))
        .order_by("-calls", "reason")[:TOP_REASONS]
    )
    return list(rows)


def median_turn_latency(calls: QuerySet[Call]) -> float | None:
    """The median of each call's median response latency (Call.conversation's
    latency_p50_ms), found in SQL: a count, then the middle one or two by ORDER BY/OFFSET."""
    # JSON null (no turn was answered) is not a latency; SQLite's ->> would read it as 0.
    latencies = (
        calls.filter(conversation__has_key="latency_p50_ms")
        .exclude(conversation__latency_p50_ms=None)
        .annotate(latency=Cast(KT("conversation__latency_p50_ms"), FloatField()))
        .filter(latency__isnull=False)
    )
    n = latencies.count()
    if not n:
        return None
    middle = list(
        latencies.order_by("latency").values_list("latency", flat=True)[(n - 1) // 2 : n // 2 + 1]
    )
    return round(sum(middle) / len(middle))


def calls_per_hour(now: datetime) -> list[HourBar]:
    """The last 24 local hours, the current one last, each with its calls and failures."""
    this_hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    # Stepping back in UTC keeps every bucket an hour long across a DST change.
    starts = [this_hour.astimezone(UTC) - timedelta(hours=k) for k in range(HOURS - 1, -1, -1)]
    rows = (
        Call.objects.filter(created_at__gte=starts[0])
        .annotate(hour=TruncHour("created_at", tzinfo=timezone.get_current_timezone()))
        .values("hour")
        .annotate(calls=Count("pk"), failed=Count("pk", filter=Q(status=Call.Status.FAILED)))
        .order_by("hour")
    )
    found = {row["hour"].astimezone(UTC): row for row in rows}
    peak = max((row["calls"] for row in found.values()), default=0) or 1
    slot = PLOT_WIDTH / HOURS
    bars = []
    for i, start in enumerate(starts):
        row = found.get(start, {"calls": 0, "failed": 0})
        scale = (PLOT_BASE - 8) / peak
        bars.append(
            HourBar(
                start=timezone.localtime(start),
                calls=row["calls"],
                failed=row["failed"],
                x=round(i * slot + 1, 1),
                width=round(slot - 2, 1),
                height=round(row["calls"] * scale, 1),
                failed_height=round(row["failed"] * scale, 1),
            )
        )
    return bars


def _links(midnight: datetime) -> dict[str, str]:
    changelist = reverse("admin:calls_call_changelist")
    # The list's own "created at" filter parameters, so the table says what it shows.
    today = {
        "created_at__gte": midnight.isoformat(),
        "created_at__lt": (midnight + timedelta(days=1)).isoformat(),
    }
    return {
        "live": f"{changelist}?live=yes",
        "today": f"{changelist}?{urlencode(today)}",
        "failed": f"{changelist}?{urlencode({**today, 'status__exact': Call.Status.FAILED})}",
    }


# The page --------------------------------------------------------------------------


def urls(model_admin: CallAdmin) -> list[URLPattern]:
    view = model_admin.admin_site.admin_view(Dashboard(model_admin).page)
    return [path("dashboard/", view, name="calls_call_dashboard")]


class Dashboard:
    def __init__(self, model_admin: CallAdmin) -> None:
        self.model_admin = model_admin

    def page(self, request: HttpRequest) -> HttpResponse:
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.model_admin.admin_site.each_context(request),
            "opts": Call._meta,
            "title": "Calls dashboard",
        }
        return TemplateResponse(request, "admin/calls/call/dashboard.html", context)
