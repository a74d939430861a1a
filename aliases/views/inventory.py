"""The alias inventory: the list, an alias's page, and the requests to change, disable or
enable it. Every request goes through the same services as an add, so four-eyes holds."""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import predicates, selectors, selectors_inventory, services
from ..audit import AuditContext
from ..errors import DuplicateSubmission, PortalError
from ..forms import SubmissionForm
from ..forms_inventory import (
    AliasChangeForm,
    AliasDisableForm,
    AliasEnableForm,
    InventorySearchForm,
)
from ..models import Alias, AliasRequest
from ..pagination import CappedPaginator
from .access import role_required

PAGE_SIZE = 25


@dataclass(frozen=True)
class LiveRequest:
    """The open request of an alias, and whether this user may open its page."""

    request: AliasRequest
    visible: bool


def _live_requests(user: AbstractBaseUser, aliases: list[Alias]) -> dict[int, LiveRequest]:
    return {
        pk: LiveRequest(request=live, visible=predicates.sees_request.test(user, live))
        for pk, live in selectors_inventory.live_requests_by_alias(aliases).items()
    }


@require_GET
@role_required(predicates.may_view_inventory)
def inventory_list(request: HttpRequest) -> HttpResponse:
    form = InventorySearchForm(request.GET or None)
    if form.is_valid():
        queryset = selectors_inventory.aliases_search(**form.cleaned_data)
    elif form.is_bound:
        # A search that cannot run shows its errors, never the whole inventory instead.
        queryset = Alias.objects.none()
    else:
        queryset = selectors_inventory.aliases_search()
    page = CappedPaginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    live = _live_requests(request.user, list(page.object_list))
    context = {
        "form": form,
        "page": page,
        "rows": [(alias, live.get(alias.pk)) for alias in page.object_list],
        "can_see_history": predicates.may_read_audit.test(request.user),
    }
    return render(request, "aliases/inventory_list.html", context)


def _alias_or_404(pk: int) -> Alias:
    return get_object_or_404(selectors_inventory.alias_by_pk(pk))


@require_GET
@role_required(predicates.may_view_inventory)
def alias_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alias = _alias_or_404(pk)
    visible = selectors.alias_requests_visible_to(user=request.user)
    context = {
        "alias": alias,
        "history": selectors_inventory.alias_request_history(alias=alias, visible=visible),
        "live": _live_requests(request.user, [alias]).get(alias.pk),
        "history_empty": (
            "No request concerns this alias."
            if predicates.sees_every_request.test(request.user)
            else "No request of yours concerns this alias."
        ),
        "can_submit": predicates.may_submit.test(request.user),
        "can_see_history": predicates.may_read_audit.test(request.user),
    }
    return render(request, "aliases/alias_detail.html", context)


@dataclass(frozen=True)
class AliasAction:
    kind: str
    state_needed: str
    form_class: type[SubmissionForm]
    service: Callable[..., AliasRequest]
    done_message: str


ACTIONS = {
    AliasRequest.Kind.CHANGE: AliasAction(
        kind=AliasRequest.Kind.CHANGE,
        state_needed=Alias.State.ACTIVE,
        form_class=AliasChangeForm,
        service=services.alias_change_submit,
        done_message="Request #{pk} to change {alias_id} is waiting for an admin's approval.",
    ),
    AliasRequest.Kind.DISABLE: AliasAction(
        kind=AliasRequest.Kind.DISABLE,
        state_needed=Alias.State.ACTIVE,
        form_class=AliasDisableForm,
        service=services.alias_disable_submit,
        done_message=(
            "Request #{pk} to disable {alias_id} is waiting for an admin's approval. Once "
            "approved, VICIdial no longer has the alias; it stays listed here as disabled."
        ),
    ),
    AliasRequest.Kind.ENABLE: AliasAction(
        kind=AliasRequest.Kind.ENABLE,
        state_needed=Alias.State.DISABLED,
        form_class=AliasEnableForm,
        service=services.alias_enable_submit,
        done_message=(
            "Request #{pk} to enable {alias_id} is waiting for an admin's approval. Once "
            "approved, VICIdial has the alias again."
        ),
    ),
}


def _change_prefill(request: HttpRequest, alias: Alias) -> dict[str, object]:
    """The alias as it is, or the values the drift page passes: the inventory's, which the
    change asks VICIdial to take (the service then reads VICIdial's as the "before")."""
    return {
        "alias_name": request.GET.get("alias_name", alias.alias_name),
        "phone_logins": request.GET.get("phone_logins", ", ".join(alias.logins_in_order())),
        "from_vicidial": request.GET.get("from_vicidial") == "1",
    }


def _why_not(action: AliasAction, alias: Alias, live: LiveRequest | None) -> str:
    """Why this request cannot be made now, for the page shown instead of the form."""
    if live is not None:
        return "open"
    if alias.state != action.state_needed and not _fixes_drift(action, alias):
        return "state"
    return ""


def _fixes_drift(action: AliasAction, alias: Alias) -> bool:
    """Enabling an active alias (VICIdial lost it) or disabling a disabled one (VICIdial has
    it again): drift fixes, which the service allows only when VICIdial's database agrees."""
    kinds = AliasRequest.Kind
    return (action.kind == kinds.ENABLE and alias.is_active) or (
        action.kind == kinds.DISABLE and not alias.is_active
    )


def _from_vicidial(form: SubmissionForm) -> bool:
    if "from_vicidial" not in form.fields:
        return False
    return form.fields["from_vicidial"].to_python(form["from_vicidial"].value())


def _submit_for_alias(request: HttpRequest, pk: int, action: AliasAction) -> HttpResponse:
    alias = _alias_or_404(pk)
    initial = {}
    if action.kind == AliasRequest.Kind.CHANGE:
        initial = _change_prefill(request, alias)
    elif action.kind == AliasRequest.Kind.ENABLE:
        initial = {
            "alias_name": alias.alias_name,
            "phone_logins": ", ".join(alias.logins_in_order()),
        }
    form = action.form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        try:
            alias_request = action.service(
                requester=request.user,
                alias_pk=alias.pk,
                context=AuditContext.from_request(request),
                **values,
            )
        except DuplicateSubmission as error:
            messages.info(request, str(error))
            return redirect("aliases:request_detail", pk=error.request_id)
        except (PortalError, ValidationError) as error:
            form.add_error(None, error if isinstance(error, ValidationError) else str(error))
        else:
            done = action.done_message.format(pk=alias_request.pk, alias_id=alias.alias_id)
            messages.success(request, done)
            return redirect("aliases:request_detail", pk=alias_request.pk)
    live = _live_requests(request.user, [alias]).get(alias.pk)
    context = {
        "alias": alias,
        "form": form,
        "kind": action.kind,
        "live": live,
        "why_not": "" if form.is_bound else _why_not(action, alias, live),
        "from_vicidial": _from_vicidial(form),
        "fixes_drift": _fixes_drift(action, alias),
    }
    return render(request, "aliases/alias_request_form.html", context)


@require_http_methods(["GET", "POST"])
@role_required(predicates.may_submit)
def alias_change(request: HttpRequest, pk: int) -> HttpResponse:
    return _submit_for_alias(request, pk, ACTIONS[AliasRequest.Kind.CHANGE])


@require_http_methods(["GET", "POST"])
@role_required(predicates.may_submit)
def alias_disable(request: HttpRequest, pk: int) -> HttpResponse:
    return _submit_for_alias(request, pk, ACTIONS[AliasRequest.Kind.DISABLE])


@require_http_methods(["GET", "POST"])
@role_required(predicates.may_submit)
def alias_enable(request: HttpRequest, pk: int) -> HttpResponse:
    return _submit_for_alias(request, pk, ACTIONS[AliasRequest.Kind.ENABLE])
