#!/usr/bin/env python
"""Django's command-line utility for phonebridge."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phonebridge.settings")
    # From the command line, a checkout with no SECRET_KEY anywhere is a local development
    # copy: settings then default DEBUG to on, so a fresh clone works with no .env at all.
    # The ASGI entry point never sets this, so a server without SECRET_KEY refuses to start.
    os.environ.setdefault("PHONEBRIDGE_COMMAND_LINE", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
