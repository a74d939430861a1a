from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from . import services
from .errors import PortalError
from .forms import DecisionForm
from .models import AliasRequest, RequestedLogin, VicidialCall


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
    for alias_request in queryset.order_by("pk"):
        try:
            result = service(request_id=alias_request.pk, actor=request.user, **kwargs)
        except (PortalError, PermissionDenied) as error:
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
class AliasRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
    search_fields = ["alias_id"]
    search_help_text = "Exact alias ID, exact phone login, or requester's username."
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
        return ", ".join(obj.phone_logins)

    def get_search_results(self, request, queryset, search_term):
        # Exact matches on indexed columns instead of admin's default icontains scan.
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = (
            Q(alias_id__lower=term.lower())
            | Q(logins__login__lower=term.lower())
            | Q(requester__username=term)
        )
        return queryset.filter(matches).distinct(), True

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("aliases.decide_aliasrequest")

    @admin.action(description="Approve and create in VICIdial", permissions=["decide"])
    def approve_selected(self, request, queryset):
        if "apply" not in request.POST:
            return _ask_for_note(self, request, queryset, "Approve requests", "approve_selected")
        note = request.POST.get("note", "")
        _run_service_on_each(self, request, queryset, services.alias_request_approve, note=note)
        return None

    @admin.action(description="Reject", permissions=["decide"])
    def reject_selected(self, request, queryset):
        if "apply" not in request.POST:
            return _ask_for_note(self, request, queryset, "Reject requests", "reject_selected")
        note = request.POST.get("note", "")
        _run_service_on_each(self, request, queryset, services.alias_request_reject, note=note)
        return None


@admin.register(VicidialCall)
class VicidialCallAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
    search_fields = ["=request__alias_id", "=source"]
    readonly_fields = [field.name for field in VicidialCall._meta.fields]
    fields = readonly_fields
