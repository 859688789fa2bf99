# Reserved for hardening (issue 13): schema or data changes other than the media counters.
import re

from django.db import migrations

# Media tokens stored before calls/redaction.py existed (issue 13, item 8). A copy of its rule,
# so this migration does not change if that module does.
_MEDIA_TOKEN = re.compile(r"(/telnyx/media/[^/?#\s\"']+/)[^/?#\s\"']+")
_SECRET_KEYS = {
    "stream_auth_token",
    "x-telnyx-streaming-auth-token",
    "sip_auth_password",
    "api_key",
}


def _redact(value):
    if isinstance(value, str):
        return _MEDIA_TOKEN.sub(r"\1***", value) if "/telnyx/media/" in value else value
    if isinstance(value, dict):
        return {
            k: "***" if str(k).lower() in _SECRET_KEYS and v not in (None, "") else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def redact_media_tokens(apps, schema_editor):
    TelnyxCommand = apps.get_model("calls", "TelnyxCommand")
    CallEvent = apps.get_model("calls", "CallEvent")
    for command in TelnyxCommand.objects.only("request_body", "error_detail").iterator():
        body, detail = _redact(command.request_body), _redact(command.error_detail)
        if (body, detail) != (command.request_body, command.error_detail):
            command.request_body, command.error_detail = body, detail
            command.save(update_fields=["request_body", "error_detail"])
    # Telnyx echoes the stream URL in call.answered and streaming.* webhooks; media and
    # system events are our own. Transcription events, the bulk of the table, carry none.
    events = CallEvent.objects.exclude(type="call.transcription").only("payload")
    for event in events.iterator():
        payload = _redact(event.payload)
        if payload != event.payload:
            event.payload = payload
            event.save(update_fields=["payload"])


class Migration(migrations.Migration):
    dependencies = [("calls", "0005_console")]

    operations: list[migrations.operations.base.Operation] = [
        # Redacted tokens cannot come back: the reverse leaves them redacted.
        migrations.RunPython(redact_media_tokens, migrations.RunPython.noop),
    ]
