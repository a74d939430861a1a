from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import predicates, selectors, services
from ..audit import AuditContext
from ..errors import AliasAlreadyListed, DuplicateSubmission, PortalError
from ..forms import AliasRequestForm, ApprovalForm, DecisionForm, RequestSearchForm, SettleForm
from ..models import AliasRequest
from ..pagination import CappedPaginator, capped_count
from ..preflight import checks_shown_token
from ..selectors_review import request_review
from ..selectors_worker import worker_health
from ..services.queue import queued_callable, queued_wait_reason
from ..vicidial.servers import DEFAULT_SERVER, server_label
from .access import get_request_for_user, report_failure, role_required

PAGE_SIZE = 25
QUEUE_SIZE = 50
BEING_CALLED = "VICIdial is being called; this page shows the outcome when it is recorded."
CALL_WAITS = "The call waits: {why}. This page shows the outcome once it is made."


@require_GET
@role_required(predicates.may_view_requests)
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    table = selectors.for_request_table
    visible = table(selectors.alias_requests_visible_to(user=user))
    context = {"my_requests": visible.filter(requester=user)[:10]}
    if predicates.is_decider.test(user):
        # The oldest first, a page's worth: the full queue is one click away.
        pending = table(selectors.alias_requests_pending())
        context["pending"] = pending[:QUEUE_SIZE]
        # Capped: at 100,000 requests an exact count would cost more than the rest of the page.
        context["pending_total"], context["pending_capped"] = capped_count(pending)
        context["attention"] = table(selectors.alias_requests_needing_attention(oldest=QUEUE_SIZE))
        context["worker_health"] = worker_health()
    if predicates.sees_every_request.test(user):
        context["recent"] = visible[:10]
    return render(request, "aliases/home.html", context)


@require_GET
@role_required(predicates.may_view_requests)
def request_list(request: HttpRequest) -> HttpResponse:
    form = RequestSearchForm(request.GET or None)
    queryset = selectors.for_request_table(selectors.alias_requests_visible_to(user=request.user))
    if form.is_valid():
        queryset = selectors.alias_requests_search(queryset, **form.cleaned_data)
    elif form.is_bound:
        # A search that cannot run shows its errors, never every request instead.
        queryset = queryset.none()
    page = CappedPaginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page}
    if predicates.is_decider.test(request.user):
        # A checkbox for each request this admin may approve (bulk approval, views/batches.py).
        can_decide = predicates.OFFERS["can_decide"]
        context["selectable_ids"] = {
            row.pk for row in page.object_list if can_decide.test(request.user, row)
        }
    return render(request, "aliases/request_list.html", context)


@require_http_methods(["GET", "POST"])
@role_required(predicates.may_submit)
def request_new(request: HttpRequest) -> HttpResponse:
    form = AliasRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            alias_request = services.alias_request_submit(
                requester=request.user,
                context=AuditContext.from_request(request),
                **form.cleaned_data,
            )
        except DuplicateSubmission as error:
            messages.info(request, str(error))
            return redirect("aliases:request_detail", pk=error.request_id)
        except AliasAlreadyListed as error:
            form.add_error(None, _already_listed(error))
        except (PortalError, ValidationError) as error:
            form.add_error(None, error if isinstance(error, ValidationError) else str(error))
        else:
            messages.success(request, f"Request #{alias_request.pk} is waiting for an admin.")
            return redirect("aliases:request_detail", pk=alias_request.pk)
    context = {"form": form, "catalogue": selectors.extension_catalogue()}
    return render(request, "aliases/request_form.html", context)


def _already_listed(error: AliasAlreadyListed) -> str:
    """The refusal, with the way forward: the alias's page, where it can be changed or enabled."""
    url = reverse("aliases:alias_detail", args=[error.alias_pk])
    return format_html('{} <a href="{}">Open the alias</a>.', str(error), url)


@require_GET
@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alias_request = get_request_for_user(request, pk)
    context = {
        "alias_request": alias_request,
        "calls": selectors.calls_for_request(alias_request=alias_request),
        "timeline": selectors.request_timeline(alias_request=alias_request),
        "can_see_history": predicates.may_read_audit.test(request.user),
        "decision_form": DecisionForm(),
        "settle_form": SettleForm(kind=alias_request.kind),
        "in_flight": alias_request.status in AliasRequest.ON_ITS_WAY,
        "queued_wait": (
            queued_wait_reason(alias_request)
            if alias_request.status == AliasRequest.Status.QUEUED
            else ""
        ),
        **predicates.offers(request.user, alias_request),
        **request_review(alias_request=alias_request, user=request.user),
    }
    if context.get("preflight"):
        context["preflight_shown"] = checks_shown_token(
            alias_request.pk, request.user.pk, context["preflight"]
        )
    return render(request, "aliases/request_detail.html", context)


def _act_on_request(
    request: HttpRequest,
    pk: int,
    service,
    done_message: str,
    form_class: type[forms.Form] = DecisionForm,
    in_flight_message: str = "",
    *,
    takes_seen: bool = False,
    call_may_wait: bool = True,
) -> HttpResponse:
    """Validate the posted form, run one service on the request, and report back on its page
    (with `in_flight_message` when the worker has not recorded the outcome yet).
    `takes_seen`: the service accepts the request as just read (`seen`), sparing it a read.
    `call_may_wait`: a call the service queues may be held back (a paused batch, stopped
    calls), so the message asks why."""
    alias_request = get_request_for_user(request, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        report_failure(request, ValidationError(list(form.errors.values())))
        return redirect("aliases:request_detail", pk=alias_request.pk)
    arguments = {"seen": alias_request} if takes_seen else {}
    try:
        alias_request = service(
            request_id=alias_request.pk,
            actor=request.user,
            context=AuditContext.from_request(request),
            **arguments,
            **form.cleaned_data,
        )
    except (PortalError, ValidationError) as error:
        report_failure(request, error)
    else:
        text = done_message.format(status=alias_request.get_status_display())
        if in_flight_message and alias_request.status in AliasRequest.ON_ITS_WAY:
            waiting = queued_wait_reason(alias_request) if call_may_wait else ""
            # A call held back (a paused batch, stopped calls) says why, not "being called".
            after = CALL_WAITS.format(why=waiting.rstrip(".")) if waiting else BEING_CALLED
            text = f"{in_flight_message} {after}"
        messages.info(request, text)
    return redirect("aliases:request_detail", pk=alias_request.pk)


@require_POST
@role_required(predicates.is_decider)
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_request(
        request,
        pk,
        services.alias_request_approve,
        "Approved. Result: {status}.",
        ApprovalForm,
        in_flight_message="Approved.",
        takes_seen=True,
        # The approval refuses while calls are stopped, and a single approval is in no
        # batch: nothing holds the call back, so no need to read why it might wait.
        call_may_wait=False,
    )


@require_POST
@role_required(predicates.is_decider)
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_request(request, pk, services.alias_request_reject, "Rejected.")


@require_POST
@role_required(predicates.may_cancel_own)
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_request(
        request, pk, services.alias_request_cancel, f"Request #{pk} is cancelled.", forms.Form
    )


@require_POST
@role_required(predicates.is_decider)
def request_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_request(
        request,
        pk,
        services.alias_request_retry,
        "Retried. Result: {status}.",
        in_flight_message="Retried.",
    )


@require_POST
@role_required(predicates.is_decider)
def request_settle(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_request(
        request, pk, services.alias_request_settle, "Recorded: {status}.", SettleForm
    )


@require_POST
@role_required(predicates.is_decider)
def vicidial_resume(request: HttpRequest) -> HttpResponse:
    server = request.POST.get("server") or DEFAULT_SERVER
    try:
        services.vicidial_circuit_reset(
            actor=request.user, server=server, context=AuditContext.from_request(request)
        )
    except PortalError as error:
        report_failure(request, error)
    else:
        # Their tasks are enqueued: still queued, unless a worker was quicker.
        waiting = queued_callable().filter(server=server).count()
        handed_on = (
            f" The {waiting} approved request(s) that waited were handed to the task worker."
            if waiting
            else ""
        )
        messages.success(
            request,
            f"Calls to VICIdial server {server_label(server)} resumed. Approvals call it "
            f"again.{handed_on}",
        )
    return redirect("aliases:home")
