"""What the portal's emails say: a subject and a plain-text body per notification.

Only labels and the portal's own words go in: never VICIdial's answer, a request's
outcome_reason or a call's reason (they can hold what VICIdial echoed, the password
included). Each email links to the page where the whole story is, for those who may see it.
services/notify.py decides who gets what and sends it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse
from django.utils import timezone

from .models import AliasRequest
from .models.requests import DONE_LABELS
from .vicidial.servers import has_several_servers, server_label, setting_name

Status = AliasRequest.Status

# A digest lists this many requests; the queue's link shows the rest.
DIGEST_MAX_LISTED = 50


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str


def portal_link(view: str, *args: object, query: str = "") -> str:
    return settings.PORTAL_BASE_URL + reverse(view, args=args) + (f"?{query}" if query else "")


def request_link(alias_request: AliasRequest) -> str:
    return portal_link("aliases:request_detail", alias_request.pk)


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


def _what(alias_request: AliasRequest) -> str:
    """ "Add alias sales_desk ("Sales desk")", and the server when there are several."""
    text = (
        f"{alias_request.get_kind_display()} alias {alias_request.alias_id} "
        f'("{alias_request.alias_name}")'
    )
    if has_several_servers():
        text += f" on VICIdial server {server_label(alias_request.server)}"
    return text


def _name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return "an admin"
    return user.get_full_name() or user.get_username()


def _body(*paragraphs: str) -> str:
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph) + "\n"


def _signature() -> str:
    return f"-- \nPhone alias portal, {settings.PORTAL_BASE_URL}/"


# The requester's emails, by event: what happened to their request and what comes next.
REQUESTER_EVENTS = (
    "approved",
    "rejected",
    "withdrawn",
    "succeeded",
    "failed",
    "needs_verification",
)


def requester_notification(alias_request: AliasRequest, event: str) -> Notification:
    if event not in REQUESTER_EVENTS:
        raise ValueError(f"No requester email for {event!r}.")
    number = f"#{alias_request.pk}"
    what = _what(alias_request)
    approver = _name(alias_request.decided_by)
    greeting = f"Hello {_name(alias_request.requester)},"
    link = f"Open the request: {request_link(alias_request)}"
    if event == "approved":
        subject = f"Request {number} approved: {alias_request.alias_id}"
        text = (
            f"Your request {number} ({what}) was approved by {approver}. The portal is now "
            "sending it to VICIdial; you get another email with the outcome."
        )
        after = ""
    elif event == "rejected":
        subject = f"Request {number} rejected: {alias_request.alias_id}"
        text = f"Your request {number} ({what}) was rejected by {approver}."
        note = alias_request.decision_note.strip()
        after = (f"Their note:\n{_indented(note)}\n\n" if note else "") + (
            "Nothing was changed in VICIdial. Once the note is dealt with, make a new request."
        )
    elif event == "withdrawn":
        subject = f"Request {number} withdrawn before VICIdial was called: {alias_request.alias_id}"
        text = (
            f"The approval of your request {number} ({what}) was withdrawn before VICIdial "
            "was called: nothing was changed in VICIdial."
        )
        # The admin's own words, from the withdrawal's audit event (not VICIdial's).
        withdrawal = alias_request.audit_events.filter(event_type="request.cancelled")
        note = (withdrawal.values_list("reason", flat=True).last() or "").strip()
        after = (f"The admin's note:\n{_indented(note)}\n\n" if note else "") + (
            "If it is still needed, make a new request."
        )
    elif event == "succeeded":
        subject = f"Request {number} done: {DONE_LABELS[alias_request.kind]}"
        text = f"Your request {number} ({what}), approved by {approver}, is done."
        after = ""
    elif event == "failed":
        subject = f"Request {number} failed: {alias_request.alias_id}"
        text = (
            f"Your request {number} ({what}), approved by {approver}, was not carried out "
            "in VICIdial: nothing was changed there."
        )
        after = "The request's page says why. Once that is fixed, make a new request."
    else:
        subject = f"Request {number}: outcome unknown, an admin checks VICIdial"
        text = (
            f"Your request {number} ({what}), approved by {approver}, was sent to VICIdial, "
            "but the portal could not tell whether VICIdial carried it out."
        )
        after = (
            "An admin checks VICIdial, then retries the request or records what VICIdial "
            "holds; you get an email when it is settled. Nothing to do on your side."
        )
    status = f"Status: {_label(alias_request, event)}"
    return Notification(subject, _body(greeting, text, status, after, link, _signature()))


def _label(alias_request: AliasRequest, event: str) -> str:
    """The human label of the status the event moved the request to (it may have moved on
    since), as the request's page shows it."""
    if event == "approved":
        return Status.QUEUED.label
    if event == "succeeded":
        return DONE_LABELS[alias_request.kind]
    if event == "withdrawn":
        return Status.CANCELLED.label
    return Status(event).label


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def pending_digest(user: AbstractBaseUser, requests: Sequence[AliasRequest]) -> Notification:
    """The requests waiting for `user`'s decision (never their own), oldest first."""
    count = len(requests)
    noun = "request is" if count == 1 else "requests are"
    subject = f"{count} alias {noun} waiting for your decision"
    lines = [
        f"- #{alias_request.pk} {_what(alias_request)}, asked by "
        f"{_name(alias_request.requester)} at {_when(alias_request.created_at)}\n"
        f"  {request_link(alias_request)}"
        for alias_request in requests[:DIGEST_MAX_LISTED]
    ]
    if count > DIGEST_MAX_LISTED:
        lines.append(f"... and {count - DIGEST_MAX_LISTED} more.")
    queue = (
        f"The queue, oldest first: {portal_link('aliases:home')}\n"
        f"Every waiting request: {portal_link('aliases:request_list', query='status=pending')}"
    )
    every = settings.NOTIFY_PENDING_EVERY
    minutes = max(1, round(every.total_seconds() / 60))
    footer = (
        "Requests you asked for yourself are not listed: another admin decides them. "
        f"You get at most one of these emails every {minutes} minute{'s' if minutes != 1 else ''}."
    )
    return Notification(
        subject,
        _body(
            f"Hello {_name(user)},",
            f"{count} alias {noun} waiting for your decision:",
            "\n".join(lines),
            queue,
            footer,
            _signature(),
        ),
    )


def circuit_opened(server: str) -> Notification:
    label = server_label(server)
    user, password = setting_name(server, "API_USER"), setting_name(server, "API_PASS")
    subject = f"VICIdial calls stopped: server {label} refused the portal's login"
    text = (
        f"VICIdial server {label} rejected the portal's credentials, so the portal has "
        "stopped every call to it: approved requests wait in the queue and nothing is sent "
        "to that server (each refused login counts towards VICIdial locking the API user)."
    )
    fix = (
        f"To fix it: set {user} and {password} to the API user and password VICIdial "
        "expects, restart the portal and its worker, then resume calls to the server on the "
        f"home page: {portal_link('aliases:home')}\n"
        "The waiting requests are then sent."
    )
    return Notification(subject, _body("Hello,", text, fix, _signature()))


def batch_outcomes(batch, requests: Sequence[AliasRequest]) -> Notification:
    """One requester's requests of a bulk approval, once its calls are over: each with its
    status label and link, and the batch's page."""
    count = len(requests)
    done = sum(alias_request.status == Status.SUCCEEDED for alias_request in requests)
    noun = "request" if count == 1 else "requests"
    subject = f"Bulk approval #{batch.pk}: {done} of your {count} {noun} done"
    lines = [
        f"- #{alias_request.pk} {_what(alias_request)}: {alias_request.get_status_display()}\n"
        f"  {request_link(alias_request)}"
        for alias_request in requests[:DIGEST_MAX_LISTED]
    ]
    if count > DIGEST_MAX_LISTED:
        lines.append(f"... and {count - DIGEST_MAX_LISTED} more on the batch's page.")
    unsettled = any(r.status == Status.NEEDS_VERIFICATION for r in requests)
    after = (
        "For a request whose outcome is unknown, an admin checks VICIdial and settles it; "
        "you get an email when that is done."
        if unsettled
        else ""
    )
    return Notification(
        subject,
        _body(
            f"Hello {_name(requests[0].requester)},",
            f"{_name(batch.created_by)} approved {count} of your {noun} in bulk approval "
            f"#{batch.pk}, and VICIdial has been called for each:",
            "\n".join(lines),
            after,
            _signature(),
        ),
    )
