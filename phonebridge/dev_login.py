"""The local admin login (`runserver` creates admin/admin in DEBUG) is refused outside DEBUG.

The account lives in the database, so it outlives the DEBUG run that created it: without
this guard, a restart with DEBUG off and a real SECRET_KEY still let anyone in as
admin/admin, and an operator logged in before the restart stayed logged in. The guard sits in
the authentication backend, so it covers a fresh login and every request of an existing
session alike. The account stops being "the local login" as soon as its password changes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import check_password


def is_local_login(user: Any) -> bool:
    """Whether `user` is the well-known local account with its well-known password."""
    if user.get_username() != settings.DEV_ADMIN_USERNAME or not user.password:
        return False
    return _is_well_known_password(user.password, settings.DEV_ADMIN_PASSWORD)


@lru_cache(maxsize=64)
def _is_well_known_password(encoded: str, well_known: str) -> bool:
    # A password hash costs hundreds of milliseconds by design; a session's user is loaded on
    # every request, so remember the verdict per stored hash (a new password, a new hash).
    # hashers.check_password, not user.check_password: the latter may rewrite the hash.
    return check_password(well_known, encoded)


class LocalLoginGuardBackend(ModelBackend):
    """Django's model backend, except that the local login only works in DEBUG."""

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return settings.DEBUG or not is_local_login(user)
