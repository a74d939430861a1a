"""Admin list filters of the portal's own.

Django's filter for a plain text column lists its values with a DISTINCT over the whole
table (2 million audit events, 1 million calls), and its date drill-down does the same for
dates. The filters here offer fixed choices (the configured servers, the codes the services
write) and date ranges that the column's index serves.
"""

from collections.abc import Callable
from datetime import timedelta

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from . import selectors
from .outcomes import CALL_OUTCOMES, OTHER_OUTCOMES, REQUEST_OUTCOMES
from .vicidial.client import PARAMETERS as VICIDIAL_FUNCTIONS
from .vicidial.servers import has_several_servers, server_choices

Choices = Callable[[], list[tuple[str, str]]]


def several_server_choices() -> list[tuple[str, str]]:
    # No lookups: the admin leaves the filter out of the sidebar, as with one server there
    # is nothing to tell apart.
    return server_choices() if has_several_servers() else []


def outcome_choices() -> list[tuple[str, str]]:
    labels: dict[str, str] = {}
    for table in (REQUEST_OUTCOMES, CALL_OUTCOMES, OTHER_OUTCOMES):
        for code, label in table.items():
            labels.setdefault(code, str(label))
    return sorted(labels.items(), key=lambda choice: choice[1].lower())


def vicidial_function_choices() -> list[tuple[str, str]]:
    return [(function, function) for function in VICIDIAL_FUNCTIONS]


def fixed_choices_filter(field: str, title: str, choices: Choices) -> type[admin.SimpleListFilter]:
    """An exact filter on `field` offering `choices()`, not the column's DISTINCT values.
    It keeps the URL parameter Django's own filter used (`?server=east`)."""

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{field: value}) if value else queryset

    return type(
        f"{field.title()}ChoicesFilter",
        (admin.SimpleListFilter,),
        {"title": title, "parameter_name": field, "lookups": lookups, "queryset": queryset},
    )


ServerFilter = fixed_choices_filter("server", "VICIdial server", several_server_choices)
OutcomeFilter = fixed_choices_filter("outcome", "outcome", outcome_choices)
VicidialFunctionFilter = fixed_choices_filter("function", "function", vicidial_function_choices)


class RecentDateFilter(admin.DateFieldListFilter):
    """Today, the past 7 or 30 days, this year: [midnight, midnight) ranges in the current
    time zone, as Django's own date filter makes them, so the column's index serves them."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        tomorrow = today + timedelta(days=1)
        since, until = self.lookup_kwarg_since, self.lookup_kwarg_until

        def starting(start) -> dict:
            return {since: start, until: tomorrow}

        nullable = [link for link in self.links if self.field_generic + "isnull" in link[1]]
        self.links = (
            ("Any date", {}),
            ("Today", starting(today)),
            ("Past 7 days", starting(today - timedelta(days=7))),
            ("Past 30 days", starting(today - timedelta(days=30))),
            ("This year", {since: today.replace(month=1, day=1), until: _next_year(today)}),
            *nullable,
        )


def _next_year(today):
    return today.replace(year=today.year + 1, month=1, day=1)


class AuditEventServerFilter(admin.SimpleListFilter):
    """Events about one VICIdial server; offered only when there are several to tell apart."""

    title = "VICIdial server"
    parameter_name = "server"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return several_server_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        server = self.value()
        if not server or not has_several_servers():
            return queryset
        return queryset.filter(selectors.audit_events_on_server(server))
