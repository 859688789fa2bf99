from __future__ import annotations

from django.apps import AppConfig


class PhonebridgeConfig(AppConfig):
    name = "phonebridge"
    verbose_name = "phonebridge"

    def ready(self) -> None:
        # Registers the project-wide system checks.
        from phonebridge import checks  # noqa: F401
