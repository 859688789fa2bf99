"""Prometheus metrics (`GET /metrics`).

Counters and histograms live in each worker process; with several workers set
PROMETHEUS_MULTIPROC_DIR (an empty directory shared by the workers, see README) and any
worker's /metrics reports them all. Call counts come from the database at scrape time, so
they are right however many workers there are.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from calls.models import Call

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
KNOWN_EVENTS = frozenset(
    {
        "call.initiated", "call.answered", "call.hangup", "call.bridged", "call.dtmf.received",
        "call.machine.detection.ended", "call.machine.premium.detection.ended",
        "call.recording.saved", "call.speak.ended", "call.speak.started", "call.transcription",
        "streaming.started", "streaming.stopped", "streaming.failed",
    }
)  # fmt: skip

WEBHOOK_SECONDS = Histogram(
    "phonebridge_webhook_seconds",
    "Time to verify, store and answer a Telnyx webhook.",
    ["event_type"],
    buckets=LATENCY_BUCKETS,
)
WEBHOOKS_REFUSED = Counter(
    "phonebridge_webhooks_refused_total", "Webhooks refused, by HTTP status.", ["status"]
)
TELNYX_COMMAND_SECONDS = Histogram(
    "phonebridge_telnyx_command_seconds",
    "Time for a Telnyx command, retries included.",
    ["command"],
    buckets=LATENCY_BUCKETS,
)
TELNYX_COMMAND_ERRORS = Counter(
    "phonebridge_telnyx_command_errors_total",
    "Telnyx commands that failed, by Telnyx error code (or HTTP status, or 'timeout').",
    ["command", "code"],
)
MEDIA_FRAMES = Counter(
    "phonebridge_media_frames_total", "Media frames, by direction (in, out).", ["direction"]
)
MEDIA_FRAMES_LOST = Counter(
    "phonebridge_media_frames_lost_total",
    "Inbound frames that were missing, late, duplicated or malformed.",
    ["kind"],
)
MEDIA_UNDERRUNS = Counter(
    "phonebridge_media_underruns_total",
    "Times the caller's playout ran dry while the agent was speaking.",
)
BACKGROUND_TASKS_DROPPED = Counter(
    "phonebridge_background_tasks_dropped_total",
    "Best-effort background work refused because MAX_BACKGROUND_TASKS were running "
    "(call control is never refused).",
)
ANSWER_WAIT_SECONDS = Histogram(
    "phonebridge_answer_wait_seconds",
    "How much longer callers rang because calls arrived faster than ANSWERS_PER_SECOND.",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0),
)
ANSWERS_PAST_MAX_WAIT = Counter(
    "phonebridge_answers_past_max_wait_total",
    "Calls answered after ANSWER_MAX_WAIT although the pace had no room for them yet.",
)
BRIDGE_JOIN_SECONDS = Histogram(
    "phonebridge_bridge_join_seconds",
    "Time for the bridge to join the agent's call.",
    ["bridge"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0),
)

TURN_LATENCY_SECONDS = Histogram(
    "phonebridge_turn_latency_seconds",
    "How long callers waited for the agent's answer: end of their speech to its first frame sent.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
BARGE_IN_REACTION_SECONDS = Histogram(
    "phonebridge_barge_in_reaction_seconds",
    "From the caller starting to talk over the agent to the agent's audio being cleared.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)


# Telnyx error codes worth a label of their own (telnyx-protocol.md §3.1); any other code a
# response carries (or forges) is counted as "other", so the metric cannot grow unbounded.
KNOWN_ERROR_CODES = frozenset(
    {
        "90018", "90015", "90034", "90020", "90031", "90045", "90040", "90054", "90061",
        "90103", "10004", "10015", "10016", "10032", "10033", "10005", "10007", "10009",
        "10028", "10011",
    }
)  # fmt: skip


def error_code_label(code: str, status_code: int | None) -> str:
    """A bounded label for a failed command: a known Telnyx code, else the HTTP status class
    ("http_4xx"), "timeout" when nothing answered, or "other"."""
    if code in KNOWN_ERROR_CODES:
        return code
    if code:
        return "other"
    if status_code is None:
        return "timeout"
    if 100 <= status_code <= 599:
        return f"http_{status_code // 100}xx"
    return "other"


def event_label(event_type: str) -> str:
    """Bounded label values: unknown or forged types must not grow the metric without limit."""
    return event_type if event_type in KNOWN_EVENTS else "other"


def record_media(stats: dict[str, Any]) -> None:
    MEDIA_FRAMES.labels("in").inc(stats.get("frames_in") or 0)
    MEDIA_FRAMES.labels("out").inc(stats.get("frames_out") or 0)
    for kind in ("missing", "late", "duplicate", "malformed"):
        MEDIA_FRAMES_LOST.labels(kind).inc(stats.get(f"frames_{kind}") or 0)
    MEDIA_UNDERRUNS.inc(stats.get("underruns") or 0)


def record_conversation(*, latencies: list[float], barge_in_reactions: list[float]) -> None:
    """Observed once per call, when it ends: no metric work per audio frame."""
    for seconds in latencies:
        TURN_LATENCY_SECONDS.observe(seconds)
    for seconds in barge_in_reactions:
        BARGE_IN_REACTION_SECONDS.observe(seconds)


class CallsCollector(Collector):
    """Active calls, and calls by direction and outcome, counted in the database."""

    def collect(self) -> Any:
        active = GaugeMetricFamily(
            "phonebridge_active_calls", "Calls not yet ended.", labels=["direction"]
        )
        by_outcome = GaugeMetricFamily(
            "phonebridge_calls",
            "Calls stored, by direction and status.",
            labels=["direction", "status"],
        )
        rows = Call.objects.values_list("direction", "status").annotate(n=Count("id")).order_by()
        live: dict[str, int] = dict.fromkeys(Call.Direction.values, 0)
        for direction, status, n in rows:
            by_outcome.add_metric([direction, status], n)
            if status in Call.LIVE_STATUSES:
                live[direction] = live.get(direction, 0) + n
        for direction, n in live.items():
            active.add_metric([direction], n)
        yield active
        yield by_outcome


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    registry.register(CallsCollector())
    return registry


class _ProcessMetrics(Collector):
    """This process's own metrics (the default registry), next to the database counts."""

    def collect(self) -> Any:
        yield from REGISTRY.collect()


def allowed(request: HttpRequest) -> bool:
    """A set METRICS_TOKEN is required; without one, the client address must be allowed.

    Behind a proxy on the same host (BEHIND_TLS_PROXY) every request comes from loopback,
    so loopback addresses are not trusted there: they would open /metrics to the world.
    """
    token = settings.METRICS_TOKEN
    if token:
        return _bearer_matches(request.headers.get("Authorization", ""), token)
    address = request.META.get("REMOTE_ADDR") or ""
    if _behind_proxy() and _is_loopback(address):
        return False
    return address in settings.METRICS_ALLOWED_IPS


def _bearer_matches(header: str, token: str) -> bool:
    # Bytes on both sides: compare_digest refuses non-ASCII str, and a header may hold any
    # byte (WSGI/ASGI hand it over as latin-1 text).
    expected = f"Bearer {token}".encode()
    return hmac.compare_digest(header.encode("latin-1", errors="replace"), expected)


def _behind_proxy() -> bool:
    # settings.py sets SECURE_PROXY_SSL_HEADER exactly when BEHIND_TLS_PROXY is on.
    return bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None))


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return HttpResponseForbidden("metrics: a bearer token or an allowed address is required\n")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
