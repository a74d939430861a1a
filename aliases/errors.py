"""Errors the services raise; each carries a message fit to show the user as it is."""

from django.core.exceptions import ValidationError


class PortalError(Exception):
    pass


class InvalidTransition(PortalError):
    """The request's current status does not allow this step (someone else got there first)."""


class DuplicateAliasId(PortalError):
    pass


class AliasAlreadyListed(DuplicateAliasId):
    """An add for an alias the inventory already holds: change or enable it instead."""

    def __init__(self, message: str, *, alias_pk: int) -> None:
        super().__init__(message)
        self.alias_pk = alias_pk


class FourEyesViolation(PortalError):
    pass


class AuditTrailIsAppendOnly(PortalError):
    pass


class VicidialCallsStopped(PortalError):
    """VICIdial refused the portal's credentials; calls wait for an admin to resume them."""


class VicidialMisconfigured(PortalError):
    """The portal's VICIdial settings cannot make a call; nothing was changed."""


class DuplicateSubmission(PortalError):
    def __init__(self, message: str, *, request_id: int) -> None:
        super().__init__(message)
        self.request_id = request_id


class NoVicidialDatabase(PortalError):
    """The server has no read-only database URL, so the portal cannot see what VICIdial holds."""


class UnknownVicidialServer(PortalError):
    """A server name the settings do not list (a stale form, or one removed since)."""


def refusal_text(error: Exception) -> str:
    """What a refused action tells the person: a validation's messages, or the error's own
    words (portal errors say what happened and what to do next)."""
    return " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
