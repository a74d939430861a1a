import html
from functools import lru_cache

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import display_for_field
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import DataError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from . import admin_search, predicates, services
from .admin_filters import (
    AuditEventServerFilter,
    OutcomeFilter,
    RecentDateFilter,
    ServerFilter,
    VicidialFunctionFilter,
)
from .audit import AuditContext
from .errors import PortalError, refusal_text
from .forms import DecisionForm
from .lookups import found
from .models import (
    AliasRequest,
    AuditDigest,
    AuditEvent,
    Extension,
    RequestBatch,
    RequestedLogin,
    VicidialCall,
)
from .signals import record_permission_denied
from .templatetags.portal import extension_history_url, raw_response_of
from .validators import is_posted_id
from .views.batches import approved_message


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: an exact count of a big audit table is a full scan."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        # COUNT(*) over a LIMIT in the database, not the ids fetched; and in no order, so
        # that the count takes the cheapest index rather than the page's ordering.
        return self.object_list.order_by().values("pk")[: self.CAP + 1].count()


@lru_cache(maxsize=20_000)
def _history_url(login: str, urlconf, script_prefix: str) -> str:
    return extension_history_url(login)


def history_url(login: str) -> str:
    """extension_history_url, remembered: the event list links a login or two per row, and
    a reverse() for each was a tenth of the page's time."""
    return _history_url(login, get_urlconf(settings.ROOT_URLCONF), get_script_prefix())


def history_links(logins) -> str:
    links = []
    for login in map(str, logins):
        url = history_url(login)
        # html.escape is Django's escape() without its check for lazy text.
        text = html.escape(login)
        links.append(f'<a href="{html.escape(url)}">{text}</a>' if url else text)
    return mark_safe(", ".join(links))  # noqa: S308 (each part escaped above)


def raw_response_html(*, body: str, received_bytes: int | None, truncated: bool) -> str:
    """VICIdial's raw answer as the portal's pages show it: folded when long, cut said so."""
    response = raw_response_of(body=body, received_bytes=received_bytes, truncated=truncated)
    return render_to_string("aliases/_raw_response.html", {"response": response})


class BigTableAdminMixin:
    """A changelist over a table of millions of rows: no exact counts, no per-filter counts
    (`?_facets=1` would count every choice over the whole table), no DISTINCT value lists or
    date drill-down (the filters in admin_filters instead), and sorting only by columns whose
    index gives the order."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    # Half of Django's 100: rendering the rows is most of a page's time.
    list_per_page = 50
    # Big columns the list does not show (VICIdial's bodies, an event's changes): the
    # changelist leaves them in the database; the change view reads the whole row.
    changelist_deferred: tuple[str, ...] = ()

    def get_changelist(self, request, **kwargs):
        return DeferringChangeList

    def get_changelist_instance(self, request):
        # Django's admin catches a ValueError in a filter, not these: a year too big for C,
        # or a value PostgreSQL refuses. Both get the admin's own "bad filter" answer.
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, DataError) as error:
            raise IncorrectLookupParameters(error) from error


class DeferringChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        deferred = self.model_admin.changelist_deferred
        return queryset.defer(*deferred) if deferred else queryset


# The text columns of a request that no list shows (a select_related row carries them too).
REQUEST_TEXTS = ("justification", "decision_note", "outcome_reason")


class ExactSearchAdminMixin:
    """Matches the search term exactly on indexed columns, never admin's icontains scan:
    `matching_ids` (from admin_search) gives the ids each key finds, one index each."""

    search_fields = ["pk"]  # only switches the search box on; the matching is matching_ids'
    search_help_text = "Exact extension, alias ID, username or correlation ID."
    # A search's page counts what it found, not also the whole table beside it ("N results
    # (M total)"): that second count reads every row, 64,000 aliases at scale, on each search.
    show_full_result_count = False

    @staticmethod
    def matching_ids(term: str) -> QuerySet:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(found("pk", self.matching_ids(term))), False


class ReadOnlyAdminMixin:
    """Rows here change only through the services, never by editing them in the admin."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RequestedLoginInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RequestedLogin
    fields = ["position", "login"]
    readonly_fields = fields
    extra = 0


class VicidialCallInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = VicidialCall
    fields = ["started_at", "attempt", "result", "http_status", "reason", "duration_ms"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


def _run_service_on_each(modeladmin, request, queryset, service, **kwargs) -> None:
    context = AuditContext.from_request(request)
    for alias_request in queryset.order_by("pk"):
        try:
            result = service(
                request_id=alias_request.pk, actor=request.user, context=context, **kwargs
            )
        except PermissionDenied as error:
            record_permission_denied(request, str(error))
            modeladmin.message_user(request, f"#{alias_request.pk}: {error}", messages.ERROR)
        except (PortalError, ValidationError) as error:
            modeladmin.message_user(
                request, f"#{alias_request.pk}: {refusal_text(error)}", messages.ERROR
            )
        else:
            modeladmin.message_user(
                request, f"#{result.pk} {result.alias_id}: {result.get_status_display()}"
            )


def _ask_for_note(modeladmin, request, queryset, title: str, action: str):
    return TemplateResponse(
        request,
        "admin/aliases/decision_note.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "action": action,
            "queryset": queryset,
            "form": DecisionForm(),
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


@admin.register(AliasRequest)
class AliasRequestAdmin(
    ExactSearchAdminMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    matching_ids = staticmethod(admin_search.alias_request_ids)
    list_display = [
        "id",
        "kind",
        "server",
        "alias_id",
        "alias_name",
        "logins_display",
        "status",
        "requester",
        "decided_by",
        "created_at",
    ]
    list_filter = [
        "status",
        "kind",
        ServerFilter,
        ("created_at", RecentDateFilter),
        ("decided_at", RecentDateFilter),
    ]
    list_select_related = ["requester", "decided_by"]
    changelist_deferred = REQUEST_TEXTS
    sortable_by = ["id", "created_at"]
    inlines = [RequestedLoginInline, VicidialCallInline]
    actions = ["approve_selected", "reject_selected"]
    readonly_fields = [
        "kind",
        "server",
        "alias_id",
        "alias_name",
        "previous_name",
        "previous_logins",
        "alias_record",
        "justification",
        "status",
        "requester",
        "decided_by",
        "decision_note",
        "outcome_reason",
        "created_at",
        "decided_at",
        "completed_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AliasRequest]:
        # The portal's visibility rule: a supervisor who is staff finds other supervisors'
        # requests neither in the list nor by id (the admin's "doesn't exist" answer).
        queryset = super().get_queryset(request).filter(predicates.requests_seen_by(request.user))
        return queryset.prefetch_related("logins")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not predicates.sees_request.test(request.user, obj):
            return False
        return super().has_view_permission(request, obj)

    @admin.display(description="Phone logins")
    def logins_display(self, obj: AliasRequest) -> str:
        return history_links(obj.logins_in_order())

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return predicates.is_decider.test(request.user)

    def response_action(self, request, queryset):
        # Django's admin turns a selected id that is not a number into a 500; drop such ids.
        selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        numeric = [value for value in selected if is_posted_id(value)]
        if numeric != selected:
            request.POST = request.POST.copy()
            request.POST.setlist(admin.helpers.ACTION_CHECKBOX_NAME, numeric)
        return super().response_action(request, queryset)

    def _posted_note(self, request) -> str | None:
        # The same form as the portal's decision box, so both accept exactly the same notes.
        form = DecisionForm(request.POST)
        if not form.is_valid():
            errors = " ".join(error for errors in form.errors.values() for error in errors)
            self.message_user(request, f"Nothing was done: {errors}", messages.ERROR)
            return None
        return form.cleaned_data["note"]

    def _decide_each(self, request, queryset, service, title: str, action: str):
        if "apply" not in request.POST:
            return _ask_for_note(self, request, queryset, title, action)
        note = self._posted_note(request)
        if note is not None:
            _run_service_on_each(self, request, queryset, service, note=note)
        return None

    @admin.action(description="Approve (queued for VICIdial as one batch)", permissions=["decide"])
    def approve_selected(self, request, queryset):
        """One bulk approval, as the portal's "Approve selected": the worker makes the calls
        and the batch's page follows them."""
        if "apply" not in request.POST:
            return _ask_for_note(self, request, queryset, "Approve requests", "approve_selected")
        note = self._posted_note(request)
        if note is None:
            return None
        try:
            batch = services.requests_approve_many(
                request_ids=queryset.order_by("pk").values_list("pk", flat=True),
                actor=request.user,
                note=note,
                context=AuditContext.from_request(request),
            )
        except PermissionDenied as error:
            record_permission_denied(request, str(error))
            self.message_user(request, str(error), messages.ERROR)
            return None
        except (PortalError, ValidationError) as error:
            self.message_user(request, refusal_text(error), messages.ERROR)
            return None
        self.message_user(request, approved_message(batch))
        return HttpResponseRedirect(reverse("aliases:batch_detail", args=[batch.pk]))

    @admin.action(description="Reject", permissions=["decide"])
    def reject_selected(self, request, queryset):
        return self._decide_each(
            request, queryset, services.alias_request_reject, "Reject requests", "reject_selected"
        )


@admin.register(RequestBatch)
class RequestBatchAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "created_by", "created_at", "filename", "paused_at", "links"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["created_by"]
    changelist_deferred = ("row_errors", "skipped", "note")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in RequestBatch._meta.fields] + ["links"]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RequestBatch]:
        return super().get_queryset(request).filter(predicates.batches_seen_by(request.user))

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # No role holds view_requestbatch: who sees a batch is the portal's rule.
        if obj is not None:
            return predicates.sees_batch.test(request.user, obj)
        return predicates.may_view_requests.test(request.user)

    @admin.display(description="Links")
    def links(self, obj: RequestBatch) -> str:
        relation = "upload_batch" if obj.kind == RequestBatch.Kind.UPLOAD else "approval_batch"
        requests_url = reverse("admin:aliases_aliasrequest_changelist")
        return format_html(
            '<a href="{}">portal page</a>, <a href="{}?{}__id__exact={}">its requests</a>',
            reverse("aliases:batch_detail", args=[obj.pk]),
            requests_url,
            relation,
            obj.pk,
        )


@admin.register(VicidialCall)
class VicidialCallAdmin(
    ExactSearchAdminMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    matching_ids = staticmethod(admin_search.vicidial_call_ids)
    list_display = [
        "id",
        "request",
        "server",
        "function",
        "attempt",
        "result",
        "http_status",
        "reason",
        "duration_ms",
        "response_bytes",
        "response_truncated",
        "started_at",
    ]
    list_filter = [
        "result",
        ServerFilter,
        VicidialFunctionFilter,
        "response_truncated",
        ("started_at", RecentDateFilter),
    ]
    list_select_related = ["request"]
    changelist_deferred = (
        "response_body",
        "response_data",
        "sent_params",
        "transport_error",
        "url",
        *(f"request__{name}" for name in REQUEST_TEXTS),
    )
    sortable_by = ["id", "started_at"]
    readonly_fields = [
        "response_display" if field.name == "response_body" else field.name
        for field in VicidialCall._meta.fields
    ]
    fields = readonly_fields

    class Media:
        css = {"all": ["css/portal.css"]}

    @admin.display(description="Response body")
    def response_display(self, obj: VicidialCall) -> str:
        return raw_response_html(
            body=obj.response_body,
            received_bytes=obj.response_bytes,
            truncated=obj.response_truncated,
        )


@admin.register(Extension)
class ExtensionAdmin(
    ExactSearchAdminMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    matching_ids = staticmethod(admin_search.extension_ids)
    list_display = [
        "login",
        "server",
        "extension",
        "protocol",
        "known_to_vicidial",
        "history",
        "updated_at",
    ]
    list_filter = [ServerFilter, "protocol", "known_to_vicidial"]
    readonly_fields = [field.name for field in Extension._meta.fields]
    fields = readonly_fields

    @admin.display(description="History")
    def history(self, obj: Extension) -> str:
        url = history_url(obj.login)
        return format_html('<a href="{}">history</a>', url) if url else ""


@admin.register(AuditEvent)
class AuditEventAdmin(
    ExactSearchAdminMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    matching_ids = staticmethod(admin_search.audit_event_ids)
    list_display = [
        "sequence",
        "occurred_at",
        "event_type",
        "actor_username",
        "actor_role",
        "request",
        "extension_links",
        "outcome",
        "correlation_id",
    ]
    list_filter = [
        "event_type",
        OutcomeFilter,
        AuditEventServerFilter,
        ("occurred_at", RecentDateFilter),
    ]
    list_select_related = ["request"]
    changelist_deferred = (
        "changes",
        "reason",
        "user_agent",
        "prev_hash",
        "hash",
        "mac",
        *(f"request__{name}" for name in REQUEST_TEXTS),
    )
    sortable_by = ["sequence", "occurred_at"]
    readonly_fields = [
        "changes_display" if field.name == "changes" else field.name
        for field in AuditEvent._meta.fields
    ]
    fields = readonly_fields

    class Media:
        css = {"all": ["css/portal.css"]}

    @admin.display(description="Extensions")
    def extension_links(self, obj: AuditEvent) -> str:
        return history_links(obj.extensions)

    @admin.display(description="Changes")
    def changes_display(self, obj: AuditEvent) -> str:
        # A call event holds VICIdial's raw answer, up to the body cap: shown as the portal's
        # pages show it, after the other changes.
        changes = obj.changes
        body = changes.get("response_body") if isinstance(changes, dict) else None
        if not isinstance(body, str):
            return display_for_field(changes, obj._meta.get_field("changes"), "-")
        others = {key: value for key, value in changes.items() if key != "response_body"}
        received = changes.get("response_bytes")
        return format_html(
            "<div>{}</div><div>response_body:</div>{}",
            display_for_field(others, obj._meta.get_field("changes"), "-"),
            raw_response_html(
                body=body,
                received_bytes=received if isinstance(received, int) else None,
                truncated=changes.get("response_truncated") is True,
            ),
        )


@admin.register(AuditDigest)
class AuditDigestAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The signed digests audit_checkpoint wrote; verify_audit checks them against the files."""

    list_display = ["sequence", "created_at", "head_hash", "file_name", "signing_key"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditDigest._meta.fields]
    fields = readonly_fields


# Registered there: the inventory's admin builds on the mixins above.
from . import admin_inventory  # noqa: E402, F401
