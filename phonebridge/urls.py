from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from phonebridge.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("telnyx/", include("telephony.urls")),
    path("admin/", admin.site.urls),
]
