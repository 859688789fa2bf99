from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from phonebridge.health import healthz
from telephony.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("telnyx/", include("telephony.telnyx.urls")),
    path("twilio/", include("telephony.twilio.urls")),
    path("admin/", admin.site.urls),
    # `/` (and the admin's "View site") is the operators' console, not a 404.
    path("", RedirectView.as_view(pattern_name="admin:calls_call_changelist"), name="home"),
]
