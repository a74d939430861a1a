"""The alias inventory in the Django admin: read-only, like every table here (it changes only
through requests and adoption), plus the view that adopts aliases from VICIdial."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from . import admin_search, predicates, services
from .admin import ExactSearchAdminMixin, ReadOnlyAdminMixin, history_links
from .admin_filters import ServerFilter
from .audit import AuditContext
from .errors import PortalError
from .forms_drift import AdoptAllForm
from .models import Alias, AliasLogin
from .services.adopt import AdoptReport
from .services.vicidial_reads import servers_with_database


class AliasLoginInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AliasLogin
    fields = ["position", "login"]
    readonly_fields = fields
    extra = 0


def _report_messages(modeladmin: admin.ModelAdmin, request: HttpRequest, report: AdoptReport):
    modeladmin.message_user(
        request, f"Adopted from {report.summary()}. Nothing was sent to VICIdial.", messages.SUCCESS
    )
    for alias_id, request_id in report.skipped_live_request.items():
        modeladmin.message_user(
            request,
            f"{alias_id} was skipped: request #{request_id} is open for it, and its outcome "
            "will list it. Adopt again once it is done.",
            messages.WARNING,
        )
    for alias_id, logins in report.duplicate_logins.items():
        modeladmin.message_user(
            request,
            f"{alias_id}: VICIdial lists {', '.join(logins)} more than once; adopted with each "
            "login once.",
            messages.WARNING,
        )


@admin.register(Alias)
class AliasAdmin(ExactSearchAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    matching_ids = staticmethod(admin_search.alias_ids)
    search_help_text = "Exact alias ID or exact phone login (any letter case)."
    list_display = [
        "alias_id",
        "alias_name",
        "server",
        "state",
        "origin",
        "logins_display",
        "last_request",
    ]
    list_filter = [ServerFilter, "state", "origin"]
    list_select_related = ["last_request"]
    list_per_page = 50  # as the big tables: rendering the rows is most of the page
    inlines = [AliasLoginInline]
    readonly_fields = [
        "server",
        "alias_id",
        "alias_name",
        "state",
        "origin",
        "last_request",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alias]:
        logins = Prefetch("logins", queryset=AliasLogin.objects.order_by("position"))
        return super().get_queryset(request).prefetch_related(logins)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return predicates.may_view_inventory.test(request.user)

    @admin.display(description="Phone logins")
    def logins_display(self, obj: Alias) -> str:
        return history_links(obj.logins_in_order())

    def get_urls(self):
        adopt = path(
            "adopt/",
            self.admin_site.admin_view(self.adopt_view),
            name="aliases_alias_adopt",
        )
        return [adopt, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_adopt": self.may_adopt(request)}
        return super().changelist_view(request, extra_context)

    def may_adopt(self, request: HttpRequest) -> bool:
        return predicates.may_adopt.test(request.user)

    def adopt_view(self, request: HttpRequest) -> HttpResponse:
        if not self.may_adopt(request):
            raise PermissionDenied("Adopting aliases from VICIdial is for admins.")
        servers = servers_with_database()
        form = AdoptAllForm(request.POST or None, servers=servers)
        if request.method == "POST" and form.is_valid():
            try:
                report = services.aliases_adopt(
                    server=form.cleaned_data["server"],
                    actor=request.user,
                    context=AuditContext.from_request(request),
                )
            except PortalError as error:
                self.message_user(request, f"Nothing was adopted: {error}", messages.ERROR)
            else:
                _report_messages(self, request, report)
                return redirect("admin:aliases_alias_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Adopt aliases from VICIdial",
            "form": form,
            "servers": servers,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/aliases/alias/adopt.html", context)
