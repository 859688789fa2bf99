from __future__ import annotations

from django.urls import path

from telephony.telnyx import views

urlpatterns = [
    path("events", views.telnyx_webhook, name="telephony-webhook"),
]
