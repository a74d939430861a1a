from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import DataError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from . import selectors, services
from .audit import AuditContext
from .errors import PortalError
from .forms import DecisionForm
from .models import (
    AliasRequest,
    AuditEvent,
    Extension,
    RequestedLogin,
    VicidialCall,
)
from .signals import record_permission_denied
from .templatetags.portal import extension_history_url


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: an exact count of a big audit table is a full scan."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return len(self.object_list.values("pk")[: self.CAP + 1])


def history_links(logins) -> str:
    def link(login: str) -> str:
        url = extension_history_url(login)
        return format_html('<a href="{}">{}</a>', url, login) if url else format_html("{}", login)

    return format_html_join(", ", "{}", ((link(login),) for login in logins))


class BigTableAdminMixin:
    show_full_result_count = False
    paginator = CappedCountPaginator

    def get_changelist_instance(self, request):
        # Django's admin catches a ValueError in a filter, not these: a year too big for C,
        # or a value PostgreSQL refuses. Both get the admin's own "bad filter" answer.
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, DataError) as error:
            raise IncorrectLookupParameters(error) from error


class ExactSearchAdminMixin:
    """Matches the search term exactly on indexed columns, never admin's icontains scan."""

    search_fields = ["pk"]  # only switches the search box on; the matching is exact_search's
    search_help_text = "Exact extension, alias ID, username or correlation ID."

    @staticmethod
    def exact_search(term: str) -> Q:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.exact_search(term)), False


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
        except PortalError as error:
            modeladmin.message_user(request, f"#{alias_request.pk}: {error}", messages.ERROR)
        except ValidationError as error:
            modeladmin.message_user(
                request, f"#{alias_request.pk}: {' '.join(error.messages)}", messages.ERROR
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
    exact_search = staticmethod(selectors.alias_requests_matching)
    list_display = [
        "id",
        "alias_id",
        "alias_name",
        "logins_display",
        "status",
        "requester",
        "decided_by",
        "created_at",
    ]
    list_filter = ["status", "created_at", "decided_at"]
    list_select_related = ["requester", "decided_by"]
    date_hierarchy = "created_at"
    inlines = [RequestedLoginInline, VicidialCallInline]
    actions = ["approve_selected", "reject_selected"]
    readonly_fields = [
        "alias_id",
        "alias_name",
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
        return super().get_queryset(request).prefetch_related("logins")

    @admin.display(description="Phone logins")
    def logins_display(self, obj: AliasRequest) -> str:
        return history_links(obj.logins_in_order())

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("aliases.decide_aliasrequest")

    def response_action(self, request, queryset):
        # Django's admin turns a selected id that is not a number into a 500; drop such ids.
        selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        numeric = [value for value in selected if value.isdigit() and len(value) <= 18]
        if numeric != selected:
            request.POST = request.POST.copy()
            request.POST.setlist(admin.helpers.ACTION_CHECKBOX_NAME, numeric)
        return super().response_action(request, queryset)

    def _decide_each(self, request, queryset, service, title: str, action: str):
        if "apply" not in request.POST:
            return _ask_for_note(self, request, queryset, title, action)
        # The same form as the portal's decision box, so both accept exactly the same notes.
        form = DecisionForm(request.POST)
        if not form.is_valid():
            errors = " ".join(error for errors in form.errors.values() for error in errors)
            self.message_user(request, f"Nothing was done: {errors}", messages.ERROR)
            return None
        _run_service_on_each(self, request, queryset, service, note=form.cleaned_data["note"])
        return None

    @admin.action(description="Approve and create in VICIdial", permissions=["decide"])
    def approve_selected(self, request, queryset):
        return self._decide_each(
            request,
            queryset,
            services.alias_request_approve,
            "Approve requests",
            "approve_selected",
        )

    @admin.action(description="Reject", permissions=["decide"])
    def reject_selected(self, request, queryset):
        return self._decide_each(
            request, queryset, services.alias_request_reject, "Reject requests", "reject_selected"
        )


@admin.register(VicidialCall)
class VicidialCallAdmin(
    ExactSearchAdminMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    exact_search = staticmethod(selectors.vicidial_calls_matching)
    list_display = [
        "id",
        "request",
        "function",
        "attempt",
        "result",
        "http_status",
        "reason",
        "duration_ms",
        "started_at",
    ]
    list_filter = ["result", "function", "started_at"]
    list_select_related = ["request"]
    readonly_fields = [field.name for field in VicidialCall._meta.fields]
    fields = readonly_fields


@admin.register(Extension)
class ExtensionAdmin(
    ExactSearchAdminMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    exact_search = staticmethod(selectors.extensions_matching)
    list_display = ["login", "extension", "protocol", "known_to_vicidial", "history", "updated_at"]
    list_filter = ["protocol", "known_to_vicidial"]
    readonly_fields = [field.name for field in Extension._meta.fields]
    fields = readonly_fields

    @admin.display(description="History")
    def history(self, obj: Extension) -> str:
        url = reverse("aliases:extension_history", args=[obj.login])
        return format_html('<a href="{}">history</a>', url)


@admin.register(AuditEvent)
class AuditEventAdmin(
    ExactSearchAdminMixin, BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    exact_search = staticmethod(selectors.audit_events_matching)
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
    list_filter = ["event_type", "outcome", "occurred_at"]
    list_select_related = ["request"]
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    fields = readonly_fields

    @admin.display(description="Extensions")
    def extension_links(self, obj: AuditEvent) -> str:
        return history_links(obj.extensions)
