from __future__ import annotations

from django.urls import path

from telephony import views

urlpatterns = [
    path("events", views.telnyx_webhook, name="telephony-webhook"),
]
