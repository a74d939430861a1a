"""Who may do what: the one set of rules the portal, the Django admin and the services ask.

Roles stay Django groups whose permissions a data migration grants (aliases/roles.py); the
predicates here combine those role facts with facts about one request: who asked for it
(four-eyes, owner cancels) and, for what a page offers, its status.

The rules are registered with django-rules, so `user.has_perm("aliases.see_request", obj)`
works too. Code here calls the predicates directly instead: Django's `has_perm` answers True
to every active superuser before asking any rule, which would waive four-eyes for them.
"""

import rules
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from .models import AliasRequest, RequestBatch

User = AbstractBaseUser | AnonymousUser
Status = AliasRequest.Status


def _holds(permission: str) -> rules.Predicate:
    """A role fact: whether the user's groups grant `permission` (inactive users hold none)."""

    def check(user: User) -> bool:
        return user.is_active and user.has_perm(permission)

    return rules.predicate(check, name=f"holds {permission}")


# Roles, whatever the request.
may_submit = _holds("aliases.add_aliasrequest")
may_view_requests = _holds("aliases.view_aliasrequest")
sees_every_request = _holds("aliases.view_all_aliasrequests")
is_decider = _holds("aliases.decide_aliasrequest")
may_cancel_own = _holds("aliases.cancel_own_aliasrequest")
may_read_audit = _holds("aliases.view_auditevent")
may_export_audit = _holds("aliases.export_auditevent")
may_view_inventory = _holds("aliases.view_alias")
may_adopt = _holds("aliases.adopt_alias")
may_check_drift = _holds("aliases.check_drift_alias")


# Facts about one request. Without a request (None) they are false.
@rules.predicate
def is_requester(user: User, alias_request: AliasRequest | None) -> bool:
    return (
        alias_request is not None
        and user.is_authenticated
        and (alias_request.requester_id == user.pk)
    )


@rules.predicate
def is_pending(user: User, alias_request: AliasRequest | None) -> bool:
    return alias_request is not None and alias_request.status == Status.PENDING


@rules.predicate
def needs_verification(user: User, alias_request: AliasRequest | None) -> bool:
    return alias_request is not None and alias_request.status == Status.NEEDS_VERIFICATION


@rules.predicate
def created_batch(user: User, batch: RequestBatch | None) -> bool:
    return batch is not None and user.is_authenticated and batch.created_by_id == user.pk


# The rules. Supervisors see their own requests; admins and auditors see every request.
sees_request = may_view_requests & (sees_every_request | is_requester)
# Four-eyes: approving, rejecting, retrying and settling are all decisions, never on one's own.
decides_request = is_decider & ~is_requester
# Only the person who asked for a request may withdraw it.
cancels_request = may_cancel_own & is_requester
# A batch, like a request: supervisors see their own uploads; admins and auditors every batch.
sees_batch = may_view_requests & (sees_every_request | created_batch)

RULES = {
    "aliases.submit_request": may_submit,
    "aliases.see_request": sees_request,
    "aliases.decide_request": decides_request,
    "aliases.cancel_request": cancels_request,
    "aliases.see_batch": sees_batch,
    "aliases.resume_vicidial_calls": is_decider,
}
for _name, _predicate in RULES.items():
    rules.set_perm(_name, _predicate)

# What a request's page offers: the rule, applied to the status the step starts from.
OFFERS = {
    "can_decide": decides_request & is_pending,
    "can_cancel": cancels_request & is_pending,
    "can_retry": decides_request & needs_verification,
    "can_settle": decides_request & needs_verification,
}


def offers(user: User, alias_request: AliasRequest) -> dict[str, bool]:
    return {name: rule.test(user, alias_request) for name, rule in OFFERS.items()}


def requests_seen_by(user: User) -> Q:
    """`sees_request` as a query filter, for lists: rules cannot filter a queryset."""
    if not may_view_requests.test(user):
        return Q(pk__in=[])
    if sees_every_request.test(user):
        return Q()
    return Q(requester_id=user.pk)


def batches_seen_by(user: User) -> Q:
    """`sees_batch` as a query filter."""
    if not may_view_requests.test(user):
        return Q(pk__in=[])
    if sees_every_request.test(user):
        return Q()
    return Q(created_by_id=user.pk)
