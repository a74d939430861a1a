"""A batch's page (a CSV upload, or a bulk approval) and the steps taken from it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import predicates, services
from ..audit import AuditContext
from ..errors import PortalError
from ..forms import DecisionForm
from ..models import AliasRequest, RequestBatch
from ..selectors_batches import batch_progress, batch_requests
from ..validators import is_posted_id
from .access import report_failure, role_required

Kind = RequestBatch.Kind


def get_batch_for_user(request: HttpRequest, pk: int) -> RequestBatch:
    """Outsiders get the same 404 as for a batch that does not exist (predicates.sees_batch)."""
    seen = RequestBatch.objects.filter(predicates.batches_seen_by(request.user))
    return get_object_or_404(seen.select_related("created_by", "paused_by"), pk=pk)


def approved_message(batch: RequestBatch) -> str:
    """What the approver reads after a bulk approval: what was queued, what was not."""
    queued = batch.requests().count()
    skipped = len(batch.skipped)
    text = f"Batch #{batch.pk}: {queued} request(s) approved and queued for VICIdial"
    if skipped:
        text += f", {skipped} skipped (the list below says why)"
    return text + ". This page follows the calls as the worker makes them."


@require_GET
@login_required
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_batch_for_user(request, pk)
    progress = batch_progress(batch)
    user = request.user
    is_decider = predicates.is_decider.test(user)
    is_approval = batch.kind == Kind.APPROVAL
    context = {
        "batch": batch,
        "progress": progress,
        "requests": batch_requests(batch).filter(predicates.requests_seen_by(user)),
        "approvals": batch.approvals.order_by("pk") if not is_approval else None,
        "can_pause": is_decider and is_approval and not batch.is_paused and progress.live,
        "can_resume": is_decider and is_approval and batch.is_paused,
        # Withdrawn only once paused, so no worker starts a call meanwhile.
        "can_withdraw": is_decider
        and is_approval
        and batch.is_paused
        and batch.requests().filter(status=AliasRequest.Status.QUEUED).exists(),
        "can_approve_pending": is_decider
        and not is_approval
        and batch.requests().filter(status=AliasRequest.Status.PENDING).exists(),
        "decision_form": DecisionForm(),
    }
    return render(request, "aliases/batch_detail.html", context)


def _on_batch(request: HttpRequest, pk: int, service, *, with_note: bool = False):
    """Run one batch service for the admin; (its result, the batch) or (None, the batch)
    with the refusal reported. `with_note`: the posted decision note goes with it."""
    batch = get_batch_for_user(request, pk)
    extra = {}
    if with_note:
        form = DecisionForm(request.POST)
        if not form.is_valid():
            report_failure(request, ValidationError(list(form.errors.values())))
            return None, batch
        extra["note"] = form.cleaned_data["note"]
    try:
        result = service(
            batch_id=batch.pk,
            actor=request.user,
            context=AuditContext.from_request(request),
            **extra,
        )
    except (PortalError, ValidationError) as error:
        report_failure(request, error)
        return None, batch
    return result, batch


@require_POST
@role_required(predicates.is_decider)
def batch_pause(request: HttpRequest, pk: int) -> HttpResponse:
    paused, batch = _on_batch(request, pk, services.batch_pause)
    if paused is not None:
        messages.success(
            request,
            f"Batch #{batch.pk} is paused: its queued calls wait. A call already being made "
            "finishes. Resume the batch to send the rest, or withdraw them.",
        )
    return redirect("aliases:batch_detail", pk=batch.pk)


@require_POST
@role_required(predicates.is_decider)
def batch_resume(request: HttpRequest, pk: int) -> HttpResponse:
    resumed, batch = _on_batch(request, pk, services.batch_resume)
    if resumed is not None:
        messages.success(request, f"Batch #{batch.pk} resumed: its queued calls are sent again.")
    return redirect("aliases:batch_detail", pk=batch.pk)


@require_POST
@role_required(predicates.is_decider)
def batch_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    withdrawn, batch = _on_batch(request, pk, services.batch_withdraw, with_note=True)
    if withdrawn is not None:
        messages.success(
            request,
            f"{withdrawn} waiting call(s) of batch #{batch.pk} withdrawn: nothing was sent "
            "for them, their requests are cancelled, and the requesters are told. Their "
            "aliases can be requested again.",
        )
    return redirect("aliases:batch_detail", pk=batch.pk)


@require_POST
@role_required(predicates.is_decider)
def batch_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve every pending request of a CSV upload."""
    approval, upload = _on_batch(request, pk, services.batch_approve_upload, with_note=True)
    if approval is None:
        return redirect("aliases:batch_detail", pk=upload.pk)
    messages.success(request, approved_message(approval))
    return redirect("aliases:batch_detail", pk=approval.pk)


@require_POST
@role_required(predicates.is_decider)
def requests_approve_selected(request: HttpRequest) -> HttpResponse:
    """The request list's "Approve selected": one bulk approval of the ticked requests."""
    back = reverse("aliases:request_list") + "?status=pending"
    form = DecisionForm(request.POST)
    selected = request.POST.getlist("request")
    if not form.is_valid() or not all(map(is_posted_id, selected)):
        errors = form.errors.values() if form.errors else ["The selection was not valid."]
        report_failure(request, ValidationError(list(errors)))
        return redirect(back)
    try:
        batch = services.requests_approve_many(
            # Oldest first, as the queue is shown: the page's order is not the admin's choice.
            request_ids=sorted(int(value) for value in selected),
            actor=request.user,
            note=form.cleaned_data["note"],
            context=AuditContext.from_request(request),
        )
    except (PortalError, ValidationError) as error:
        report_failure(request, error)
        return redirect(back)
    messages.success(request, approved_message(batch))
    return redirect("aliases:batch_detail", pk=batch.pk)
