"""The call list's filters beyond plain field choices."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from calls.models import Call


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
