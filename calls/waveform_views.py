"""The waveform's peaks as JSON, for the call detail page (calls.waveform computes them).

Guarded like the recording itself (calls.admin_views): active staff with the view
permission, anyone else a plain 404. A recording that cannot be drawn answers with a
sentence in `error` for the page to show, never a 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path

from calls.admin_views import staff_or_404
from calls.models import Call
from calls.transcript import far_end_label
from calls.waveform import WaveformError, peaks_for

if TYPE_CHECKING:
    from calls.admin import CallAdmin

logger = logging.getLogger(__name__)


def waveform_urls(model_admin: CallAdmin) -> list[URLPattern]:
    wrap = model_admin.admin_site.admin_view

    def peaks(request: HttpRequest, call_id: str) -> JsonResponse:
        if not model_admin.has_view_permission(request):
            return JsonResponse({"error": "Not found."}, status=404)
        return peaks_response(get_object_or_404(Call, pk=call_id))

    return [
        path("<uuid:call_id>/peaks/", staff_or_404(wrap(peaks)), name="calls_call_peaks"),
    ]


def peaks_response(call: Call) -> JsonResponse:
    if not call.recording:
        return JsonResponse({"error": "This call has no recording."}, status=404)
    try:
        found = peaks_for(call.recording, far_end=far_end_label(call.direction))
    except WaveformError as exc:
        return JsonResponse({"error": str(exc)}, status=422)
    except OSError as exc:  # unreadable file: permissions, a vanished mount
        logger.warning("could not read the recording of call %s: %s", call.pk, exc)
        return JsonResponse({"error": "The recording file could not be read."}, status=422)
    return JsonResponse({**found, "live": call.is_live})
