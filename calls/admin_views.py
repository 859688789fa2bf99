"""The operator console's own pages and endpoints, mounted by CallAdmin.get_urls().

Every view is wrapped in `admin_site.admin_view` (staff login, CSRF, no caching) and checks
the model permission it needs: view for reading, change for steering a live call, the
custom `calls.dial_call` for placing calls. Carrier work goes through telephony.dialing and
telephony.actions, which log each command on the call; failures reach the operator through
message_user.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from calls import audit, live
from calls.detail import detail_context, render_fragments
from calls.forms import DialForm, DtmfForm, SimulateInboundForm, TransferForm
from calls.models import Call, CallEvent
from calls.ranges import ranged_file_response
from calls.redaction import redact
from telephony import actions, dialing
from telephony.carrier import CarrierError

if TYPE_CHECKING:
    from calls.admin import CallAdmin

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]


def staff_or_404(view: View) -> View:
    """Recordings are private: anyone but active staff gets a plain 404, not a login page
    that would confirm the recording exists."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not (request.user.is_active and request.user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


class CallConsole:
    def __init__(self, model_admin: CallAdmin) -> None:
        self.model_admin = model_admin
        self.controls: dict[str, Callable[[HttpRequest, Call], None]] = {
            "hangup": self._hang_up,
            "transfer": self._transfer,
            "dtmf": self._send_dtmf,
            "record-start": self._start_recording,
            "record-stop": self._stop_recording,
        }

    def urls(self) -> list[URLPattern]:
        wrap = self.model_admin.admin_site.admin_view
        return [
            path("dial/", wrap(self.dial), name="calls_call_dial"),
            path("simulate/", wrap(self.simulate), name="calls_call_simulate"),
            path("live/", wrap(self.live_list), name="calls_call_live"),
            path("<uuid:call_id>/live/", wrap(self.live_call), name="calls_call_live_detail"),
            path(
                "<uuid:call_id>/recording/",
                staff_or_404(wrap(self.recording)),
                name="calls_call_recording",
            ),
            path(
                "<uuid:call_id>/events/<int:event_id>/",
                wrap(self.event_payload),
                name="calls_call_event_payload",
            ),
            path(
                "<uuid:call_id>/control/<slug:action>/",
                wrap(self.control),
                name="calls_call_control",
            ),
        ]

    # Pages ---------------------------------------------------------------------------

    def dial(self, request: HttpRequest) -> HttpResponse:
        if not self.model_admin.has_dial_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = DialForm(request.POST)
            if form.is_valid():
                return self._place_call(request, form)
        else:
            form = DialForm(initial=request.GET.dict())
        context = {
            **self.model_admin.admin_site.each_context(request),
            "opts": Call._meta,
            "title": "Dial a number",
            "form": form,
        }
        return TemplateResponse(request, "admin/calls/call/dial.html", context)

    def _place_call(self, request: HttpRequest, form: DialForm) -> HttpResponse:
        data = form.cleaned_data
        if data.get("far_end"):  # only offered while the embedded simulator is the carrier
            set_far_end = _simulator_of(dialing.carrier_for_number(data["from_number"])).set_far_end
            set_far_end(data["to"], data["far_end"], keys=data.get("far_end_keys", ""))
        try:
            call = async_to_sync(dialing.place_call)(
                to=data["to"],
                from_=data["from_number"],
                amd=data["amd"] or None,
                custom_data=form.custom_data(),
            )
        except dialing.CallFailed as exc:
            self._tell(request, str(exc), "error")  # "refused" or "no response", as it was
            audit.record(request, exc.call, "dial", outcome=str(exc), **_dialed(exc.call, data))
            return self._to_call(exc.call)
        self._tell(request, f"Dialing {call.to_number} from {call.from_number}.", "success")
        audit.record(request, call, "dial", outcome="sent", **_dialed(call, data))
        return self._to_call(call)

    def simulate(self, request: HttpRequest) -> HttpResponseBase:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (settings.TELNYX_SIMULATOR or settings.TWILIO_SIMULATOR):
            raise Http404
        if not self.model_admin.has_dial_permission(request):
            raise PermissionDenied
        form = SimulateInboundForm(request.POST)
        if form.is_valid():
            self._start_simulated_call(request, form.cleaned_data)
        else:
            self._tell(request, _form_errors(form), "error")
        return redirect("admin:calls_call_changelist")

    def _start_simulated_call(self, request: HttpRequest, data: dict[str, Any]) -> None:
        carrier = _simulated_carrier(request.POST.get("carrier", ""))
        to_number = data["to_number"]
        if carrier == "twilio" and not request.POST.get("to_number"):
            to_number = settings.TWILIO_PHONE_NUMBER  # the form's default is Telnyx's number
        extra = {"duration_s": data["duration_s"]} if data.get("duration_s") else {}
        try:
            async_to_sync(_simulator_of(carrier).simulate_inbound_call)(
                from_number=data["from_number"], to_number=to_number, **extra
            )
        except Exception as exc:  # a developer tool: say what broke rather than a 500
            logger.exception("could not start a simulated call")
            self._tell(request, f"The simulator could not start the call: {exc}", "error")
            return
        self._tell(
            request,
            f"Simulated call from {data['from_number']} to {to_number} ({carrier.title()}) "
            "started; it appears under Live calls as soon as its first webhook arrives.",
            "success",
        )

    # Polling endpoints ---------------------------------------------------------------

    def live_list(self, request: HttpRequest) -> JsonResponse:
        self._require_view(request)
        marker = live.list_marker()
        if request.GET.get("since") == marker:
            return JsonResponse({"marker": marker, "changed": False})
        # `filters` is the list page's own query string: the panel obeys its filters.
        found = live.panel(self.model_admin, request, request.GET.get("filters", ""))
        return JsonResponse({"marker": marker, "changed": True, **found})

    def live_call(self, request: HttpRequest, call_id: str) -> JsonResponse:
        self._require_view(request)
        found = live.call_marker(call_id)
        if found is None:
            raise Http404
        marker, slim = found
        answer: dict[str, Any] = {
            "marker": marker,
            "live": slim.is_live,
            "poll": live.keeps_changing(slim),
            "changed": request.GET.get("since") != marker,
        }
        if answer["changed"]:
            call = Call.objects.get(pk=call_id)
            answer["fragments"] = render_fragments(request, detail_context(call))
        return JsonResponse(answer)

    # Files and payloads --------------------------------------------------------------

    def recording(self, request: HttpRequest, call_id: str) -> HttpResponseBase:
        if not self.model_admin.has_view_permission(request):
            raise Http404
        call = get_object_or_404(Call, pk=call_id)
        storage, name = call.recording.storage, call.recording.name
        if not name or not storage.exists(name):
            raise Http404
        modified = storage.get_modified_time(name).timestamp()
        return ranged_file_response(
            request, call.recording, content_type="audio/wav", last_modified=modified
        )

    def event_payload(self, request: HttpRequest, call_id: str, event_id: int) -> JsonResponse:
        self._require_view(request)
        event = get_object_or_404(CallEvent, pk=event_id, call_id=call_id)
        payload = redact(event.payload)  # rows stored before redaction existed, too
        return JsonResponse(payload, safe=False, json_dumps_params={"indent": 2})

    # Live call controls --------------------------------------------------------------

    def control(self, request: HttpRequest, call_id: str, action: str) -> HttpResponseBase:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.model_admin.has_change_permission(request):
            raise PermissionDenied
        handler = self.controls.get(action)
        call = get_object_or_404(Call, pk=call_id)
        if handler is None:
            raise Http404
        if call.is_live:
            handler(request, call)
        else:
            self._tell(request, "This call is over: there is nothing left to do.", "warning")
        return self._to_call(call)

    def _hang_up(self, request: HttpRequest, call: Call) -> None:
        self.run(request, actions.hang_up, "Hang-up sent.", call=call)

    def _transfer(self, request: HttpRequest, call: Call) -> None:
        # A transfer dials a new, billed leg to any number: it needs the dial permission,
        # not just the right to steer a call.
        if not self.model_admin.has_dial_permission(request):
            raise PermissionDenied
        form = TransferForm(request.POST)
        if not form.is_valid():
            self._tell(request, _form_errors(form), "error")
            return
        to = form.cleaned_data["to"]
        self.run(request, actions.transfer, f"Transferring to {to}.", call=call, to=to)

    def _send_dtmf(self, request: HttpRequest, call: Call) -> None:
        form = DtmfForm(request.POST)
        if not form.is_valid():
            self._tell(request, _form_errors(form), "error")
            return
        digits = form.cleaned_data["digits"]
        self.run(request, actions.send_dtmf, f"Sent DTMF {digits}.", call=call, digits=digits)

    def _start_recording(self, request: HttpRequest, call: Call) -> None:
        started = f"{call.get_carrier_display()} recording started."
        self.run(request, actions.start_recording, started, call=call)

    def _stop_recording(self, request: HttpRequest, call: Call) -> None:
        stopped = f"{call.get_carrier_display()} recording stopped."
        self.run(request, actions.stop_recording, stopped, call=call)

    def run(
        self,
        request: HttpRequest,
        service: Callable[..., Awaitable[None]],
        done: str,
        **kwargs: Any,
    ) -> bool:
        """Run one service call for the operator and tell them how it went."""
        action = service.__name__
        try:
            async_to_sync(service)(**kwargs)
        except CarrierError as exc:
            self._tell(request, exc.for_humans(), "error")
            audit.record(request, action=action, outcome=exc.for_humans(), **kwargs)
            return False
        except ValueError as exc:  # a bad number or bad digits
            self._tell(request, str(exc), "error")
            audit.record(request, action=action, outcome=f"refused: {exc}", **kwargs)
            return False
        self._tell(request, done, "success")
        audit.record(request, action=action, outcome="sent", **kwargs)
        return True

    # Helpers -------------------------------------------------------------------------

    def _require_view(self, request: HttpRequest) -> None:
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied

    def _tell(self, request: HttpRequest, text: str, level: str) -> None:
        self.model_admin.message_user(request, text, getattr(messages, level.upper()))

    def _to_call(self, call: Call) -> HttpResponseRedirect:
        return redirect(reverse("admin:calls_call_change", args=[call.pk]))


def _dialed(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    return {"to": call.to_number, "from_number": call.from_number, "amd": data.get("amd")}


def _form_errors(form: Any) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


def _simulated_carrier(asked: str) -> str:
    """Which embedded simulator "Simulate inbound call" rings: the one asked for if it is on,
    else PHONEBRIDGE_CARRIER's if it is on, else whichever is on."""
    on = {"telnyx": settings.TELNYX_SIMULATOR, "twilio": settings.TWILIO_SIMULATOR}
    for carrier in (asked, str(settings.PHONEBRIDGE_CARRIER)):
        if on.get(carrier):
            return carrier
    return "telnyx" if on["telnyx"] else "twilio"


def _simulator_of(carrier: str) -> Any:
    """The embedded simulator's adapter module for `carrier` (imported only when used)."""
    if carrier == Call.Carrier.TWILIO:
        from telephony.twilio import embedded as twilio_embedded

        return twilio_embedded
    from telephony.telnyx import embedded as telnyx_embedded

    return telnyx_embedded
