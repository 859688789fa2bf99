"""The call list's filters beyond plain field choices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import DurationField, ExpressionWrapper, F, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from calls.models import Call


def with_duration(queryset: QuerySet[Call]) -> QuerySet[Call]:
    """Calls with `duration_value` (answered to ended, null if either is unknown) computed in
    SQL, so the list can sort and filter by how long the conversation lasted."""
    return queryset.annotate(
        duration_value=ExpressionWrapper(
            F("ended_at") - F("answered_at"), output_field=DurationField()
        )
    )


class DurationFilter(admin.SimpleListFilter):
    """Ranges of conversation time (from the answer to the hangup)."""

    title = "duration"
    parameter_name = "duration"
    RANGES: dict[str, tuple[str, timedelta | None, timedelta | None]] = {
        "lt10s": ("Under 10 s", None, timedelta(seconds=10)),
        "10s-1m": ("10 s to 1 min", timedelta(seconds=10), timedelta(minutes=1)),
        "1m-5m": ("1 to 5 min", timedelta(minutes=1), timedelta(minutes=5)),
        "5m-30m": ("5 to 30 min", timedelta(minutes=5), timedelta(minutes=30)),
        "gt30m": ("Over 30 min", timedelta(minutes=30), None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ranges = [(key, label) for key, (label, _, _) in self.RANGES.items()]
        return [*ranges, ("none", "No conversation (never answered or still live)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Call]) -> QuerySet[Call]:
        value = self.value()
        if value == "none":
            return queryset.filter(Q(answered_at__isnull=True) | Q(ended_at__isnull=True))
        if value not in self.RANGES:
            return queryset
        _, low, high = self.RANGES[value]
        if "duration_value" not in queryset.query.annotations:
            queryset = with_duration(queryset)
        # Keyword dicts: the annotation is not a model field, which the type checker cannot see.
        if low is not None:
            queryset = queryset.filter(**{"duration_value__gte": low})
        if high is not None:
            queryset = queryset.filter(**{"duration_value__lt": high})
        return queryset


class DateRangeFilter(admin.ListFilter):
    """Calls started between two dates (both included), in the server's TIME_ZONE."""

    title = "date range"
    template = "admin/calls/call/date_range_filter.html"
    FROM, TO = "created_from", "created_to"

    def __init__(
        self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any
    ) -> None:
        super().__init__(request, params, model, model_admin)
        self.dates: dict[str, date] = {}
        self.errors: list[str] = []
        for name in (self.FROM, self.TO):
            if name not in params:
                continue
            raw = params.pop(name)[-1].strip()
            self.used_parameters[name] = raw
            if not raw:
                continue
            try:
                self.dates[name] = date.fromisoformat(raw)
            except ValueError:
                self.errors.append(f"“{raw[:40]}” is not a date: use YYYY-MM-DD.")
        if self.errors:
            messages.error(request, " ".join(self.errors) + " The date range was not applied.")

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.FROM, self.TO]

    def value(self, name: str) -> str:
        return str(self.used_parameters.get(name, ""))

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        # The form resubmits every other filter and the search as hidden fields.
        keep = changelist.get_query_string(remove=[self.FROM, self.TO])
        others = parse_qsl(keep.removeprefix("?"), keep_blank_values=True)
        yield {
            "from": self.value(self.FROM),
            "to": self.value(self.TO),
            "hidden": others,
            "clear": keep or "?",
            "active": bool(self.dates),
            "time_zone": timezone.get_current_timezone_name(),
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Call]) -> QuerySet[Call]:
        if self.errors:
            return queryset
        zone = timezone.get_current_timezone()
        if start := self.dates.get(self.FROM):
            queryset = queryset.filter(created_at__gte=datetime.combine(start, time(), zone))
        if end := self.dates.get(self.TO):
            after = datetime.combine(end + timedelta(days=1), time(), zone)
            queryset = queryset.filter(created_at__lt=after)
        return queryset


class LiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "live"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Live now"), ("no", "Finished")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Call]) -> QuerySet[Call]:
        if self.value() == "yes":
            return queryset.filter(status__in=Call.LIVE_STATUSES)
        if self.value() == "no":
            return queryset.filter(status__in=Call.FINAL_STATUSES)
        return queryset


class HangupCauseFilter(admin.SimpleListFilter):
    title = "hangup cause"
    parameter_name = "hangup_cause"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # hangup_cause is indexed, so listing its distinct values reads the index only.
        causes = (
            Call.objects.exclude(hangup_cause="")
            .order_by("hangup_cause")
            .values_list("hangup_cause", flat=True)
            .distinct()[:50]
        )
        return [(cause, cause) for cause in causes]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Call]) -> QuerySet[Call]:
        if self.value():
            return queryset.filter(hangup_cause=self.value())
        return queryset


class HasRecordingFilter(admin.SimpleListFilter):
    title = "recording"
    parameter_name = "recording"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has a recording"), ("no", "No recording")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Call]) -> QuerySet[Call]:
        # Ours is a file; Telnyx's are a JSON list of URLs (empty list when none).
        has = ~Q(recording="") | ~Q(telnyx_recording_urls=[])
        if self.value() == "yes":
            return queryset.filter(has)
        if self.value() == "no":
            return queryset.exclude(has)
        return queryset


class AnsweredByFilter(admin.SimpleListFilter):
    """Telnyx's answering machine detection result: `human`, `machine` or `not_sure`; premium
    detection adds `human_residence`, `human_business`, `silence` and `fax_detected`.
    Reference: https://developers.telnyx.com/docs/voice/programmable-voice/answering-machine-detection
    """

    title = "answered by"
    parameter_name = "answered_by"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("machine", "Machine"),
            ("human", "Human"),
            ("other", "Not sure, fax or silence"),
            ("none", "No detection"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Call]) -> QuerySet[Call]:
        value = self.value()
        if value in ("machine", "human"):
            return queryset.filter(amd_result__startswith=value)
        if value == "other":
            known = Q(amd_result="") | Q(amd_result__startswith="machine")
            return queryset.exclude(known | Q(amd_result__startswith="human"))
        if value == "none":
            return queryset.filter(amd_result="")
        return queryset
