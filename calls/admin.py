from __future__ import annotations

from django.contrib import admin

from calls.models import Call, CallEvent, TelnyxCommand


class CallEventInline(admin.TabularInline):
    model = CallEvent
    extra = 0
    fields = ("occurred_at", "source", "type", "event_id")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class TelnyxCommandInline(admin.TabularInline):
    model = TelnyxCommand
    extra = 0
    fields = (
        "created_at",
        "name",
        "ok",
        "status_code",
        "error_code",
        "error_detail",
        "attempts",
        "latency_ms",
    )
    readonly_fields = fields
    can_delete = False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "direction",
        "status",
        "from_number",
        "to_number",
        "hangup_cause",
        "simulated",
    )
    list_filter = ("status", "direction", "simulated")
    search_fields = (
        "from_number",
        "to_number",
        "call_control_id",
        "call_leg_id",
        "call_session_id",
    )
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Call._meta.fields]
    inlines = [CallEventInline, TelnyxCommandInline]


@admin.register(CallEvent)
class CallEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "type", "source", "call")
    list_filter = ("source", "type")
    search_fields = ("event_id", "type")
    list_select_related = ("call",)
    readonly_fields = (
        "call",
        "event_id",
        "source",
        "type",
        "occurred_at",
        "received_at",
        "payload",
    )


@admin.register(TelnyxCommand)
class TelnyxCommandAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "name",
        "ok",
        "status_code",
        "error_code",
        "attempts",
        "latency_ms",
        "call",
    )
    list_filter = ("ok", "name", "error_code")
    search_fields = ("command_id", "path", "error_detail")
    list_select_related = ("call",)
    readonly_fields = [f.name for f in TelnyxCommand._meta.fields]
