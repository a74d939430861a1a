"""Errors the services raise; each carries a message fit to show the user as it is."""


class PortalError(Exception):
    pass


class InvalidTransition(PortalError):
    """The request's current status does not allow this step (someone else got there first)."""


class DuplicateAliasId(PortalError):
    pass


class FourEyesViolation(PortalError):
    pass


class AuditTrailIsAppendOnly(PortalError):
    pass
