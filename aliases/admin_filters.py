"""Admin list filters of the portal's own (the admin's field filters cannot follow a server
through an event's request, call or recorded changes)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import selectors
from .vicidial.servers import has_several_servers, server_choices


class AuditEventServerFilter(admin.SimpleListFilter):
    """Events about one VICIdial server; offered only when there are several to tell apart."""

    title = "VICIdial server"
    parameter_name = "server"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        # No lookups: the admin leaves the filter out of the sidebar.
        return server_choices() if has_several_servers() else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        server = self.value()
        if not server or not has_several_servers():
            return queryset
        return queryset.filter(selectors.audit_events_on_server(server))
