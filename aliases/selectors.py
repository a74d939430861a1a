"""Read-side queries; who may see what is decided here and nowhere else."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from .models import AliasRequest, RequestedLogin, VicidialCall


def _with_related(queryset: QuerySet[AliasRequest]) -> QuerySet[AliasRequest]:
    return queryset.select_related("requester", "decided_by").prefetch_related(
        Prefetch("logins", queryset=RequestedLogin.objects.order_by("position"))
    )


def sees_all_requests(user: AbstractBaseUser) -> bool:
    return user.has_perm("aliases.view_all_aliasrequests")


def alias_requests_visible_to(*, user: AbstractBaseUser) -> QuerySet[AliasRequest]:
    queryset = AliasRequest.objects.all()
    if not sees_all_requests(user):
        queryset = queryset.filter(requester=user)
    return _with_related(queryset)


def alias_requests_pending() -> QuerySet[AliasRequest]:
    return _with_related(AliasRequest.objects.filter(status=AliasRequest.Status.PENDING)).order_by(
        "created_at"
    )


def alias_requests_needing_attention() -> QuerySet[AliasRequest]:
    return _with_related(
        AliasRequest.objects.filter(
            status__in=[AliasRequest.Status.NEEDS_VERIFICATION, AliasRequest.Status.APPROVED]
        )
    ).order_by("created_at")


def alias_requests_search(
    queryset: QuerySet[AliasRequest], *, alias_id: str = "", login: str = "", status: str = ""
) -> QuerySet[AliasRequest]:
    """Exact, index-backed matches: login 1001 never finds 10010."""
    if alias_id:
        queryset = queryset.filter(alias_id__lower=alias_id.strip().lower())
    if login:
        queryset = queryset.filter(logins__login__lower=login.strip().lower()).distinct()
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def calls_for_request(*, alias_request: AliasRequest) -> QuerySet[VicidialCall]:
    return alias_request.calls.order_by("started_at", "id")
