from __future__ import annotations

from django.urls import path

from telephony.twilio import views

urlpatterns = [
    path("voice", views.voice, name="twilio-voice"),
    path("status", views.status, name="twilio-status"),
    path("recording", views.recording, name="twilio-recording"),
    path("amd", views.amd, name="twilio-amd"),
]
