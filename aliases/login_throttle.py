"""django-axes, plus a second lock per address, and the throttle's word on what to record.

Axes locks a username at one address after AXES_FAILURE_LIMIT failures. Alone, that lets one
address try a few passwords on every account (password spraying). Axes applies one limit to
all its lockout parameters, so the per-address limit, AXES_IP_FAILURE_LIMIT, is added here:
it is higher, so an office behind one NAT address is not locked out by a few typos, and each
username counts at most AXES_FAILURE_LIMIT towards it, so one person hammering their own
locked account does not lock the whole office either.
"""

import enum

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class Lock(enum.StrEnum):
    USERNAME_AT_ADDRESS = "username_at_address"
    ADDRESS = "address"


def lock_refusing(request: HttpRequest | None) -> Lock | None:
    """The lock that refused this log-in without checking its password, if one did."""
    return getattr(request, "portal_refused_by", None)


class PortalAxesHandler(AxesDatabaseHandler):
    def address_failures(self, request: HttpRequest, credentials: dict | None) -> int:
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        per_username = attempts.values("username").annotate(total=Sum("failures_since_start"))
        cap = get_failure_limit(request, credentials)
        return sum(min(row["total"], cap) for row in per_username)

    def address_is_locked(self, request: HttpRequest, credentials: dict | None) -> bool:
        return self.address_failures(request, credentials) >= settings.AXES_IP_FAILURE_LIMIT

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        # Asked before the password is checked: remember which lock refused, for the audit.
        if super().is_locked(request, credentials):
            request.portal_refused_by = Lock.USERNAME_AT_ADDRESS
        elif self.address_is_locked(request, credentials):
            request.portal_refused_by = Lock.ADDRESS
        return lock_refusing(request) is not None

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if self.is_whitelisted(request, credentials):
            return
        # Axes knows only its own limit; the address limit answers with the same 429.
        if self.address_is_locked(request, credentials):
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send(
                "axes",
                request=request,
                username=get_client_username(request, credentials),
                ip_address=request.axes_ip_address,
            )
