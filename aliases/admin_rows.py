"""The admin's changelist rows, planned once per column instead of worked out once per cell.

Django's admin works each cell out from scratch: it looks the column up, flattens the field's
choices, reverses the change URL and resolves it again to keep the filters, renders the
checkbox through the form templates, and the template then prints every cell on its own.
That is about 40 µs a cell: with ten columns, most of a changelist page. Here each column
is planned once per page (its field, its escaped choice labels, its CSS class, its link
with the page's filters) and each row is one string.

The HTML is Django's own, byte for byte (tests/test_admin_rows.py compares the two on every
changelist of the app). A column this does not plan (a model property, a `__` lookup) and a
list Django renders differently (editable, or a popup) leave the whole table to Django.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.admin import ModelAdmin
from django.contrib.admin.templatetags.admin_list import (
    ResultList,
    _boolean_icon,
    _coerce_field_name,
    result_headers,
    result_hidden_fields,
    results,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
)
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils import formats, timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe

Cell = Callable[[models.Model], str]

# Stands for a row's primary key and label while the page's link and checkbox are built
# once: letters and digits only, so that no quoting or escaping on the way changes it.
PK_MARK = "RowPrimaryKeyMark"
LABEL_MARK = "RowLabelMark"


class _MarkedRow:
    """What Django's checkbox and change URL read from a row, replaced by the marks."""

    pk = PK_MARK

    def __init__(self, pk_attname: str):
        setattr(self, pk_attname, PK_MARK)

    def __str__(self) -> str:
        return LABEL_MARK


def result_list(cl) -> dict:
    """Django's `result_list` context, with the rows planned per column when they can be."""
    columns = row_plan(cl)
    if columns is None:
        rows = list(results(cl))
    else:
        # One item per row: the template prints the items of a row one after another.
        rows = [
            # Each cell escapes what it shows.
            ResultList(None, [mark_safe("".join(column(row) for column in columns))])  # noqa: S308
            for row in cl.result_list
        ]
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": rows,
    }


def row_plan(cl) -> list[Cell] | None:
    """One function per column that gives the cell's whole HTML; None for Django's way."""
    if cl.formset or cl.is_popup or cl.to_field:
        return None
    empty = cl.model_admin.get_empty_value_display()
    plan = []
    first = True
    for index, name in enumerate(cl.list_display):
        linked = _link_in_col(first, name, cl)
        cell = _cell(cl, name, empty, linked)
        if cell is None:
            return None
        content, classes = cell
        if linked:
            content = _linked(cl, content)
            tag = "th" if first else "td"
            first = False
        else:
            tag = "td"
        # As in Django, the checkbox column has a class of its own instead of its field's.
        base = (
            "action-checkbox"
            if name == "action_checkbox"
            else f"field-{_coerce_field_name(name, index)}"
        )
        plan.append(_tagged(tag, [base], classes, content))
    return plan


def _link_in_col(is_first: bool, name, cl) -> bool:
    # As Django's own: the first column links unless list_display_links says otherwise.
    if cl.list_display_links is None:
        return False
    if is_first and not cl.list_display_links:
        return True
    return name in cl.list_display_links


Classes = Callable[[Any], list[str]]
Planned = tuple[Callable[[models.Model], tuple[Any, str]], Classes]


def _tagged(tag: str, base: list[str], classes: Classes, content) -> Cell:
    opened: dict[tuple[str, ...], str] = {}

    def cell(row) -> str:
        value, html = content(row)
        extra = tuple(classes(value))
        start = opened.get(extra)
        if start is None:
            start = opened[extra] = f'<{tag} class="{" ".join([*base, *extra])}">'
        return f"{start}{html}</{tag}>"

    return cell


def _linked(cl, content):
    """The change link of each row, with the page's filters kept, as Django builds it."""
    pk_attname = cl.lookup_opts.pk.attname
    try:
        marked = add_preserved_filters(
            {"preserved_filters": cl.preserved_filters, "opts": cl.opts},
            cl.url_for_result(_MarkedRow(pk_attname)),
        )
    except NoReverseMatch:
        return content
    path, question, query = marked.partition("?")
    before, _, after = path.partition(PK_MARK)
    before, after = escape(before), escape(after + question + query)
    integer_pk = isinstance(cl.lookup_opts.pk, models.AutoField | models.IntegerField)

    def url(row) -> str:
        pk = getattr(row, pk_attname)
        if integer_pk and type(pk) is int:
            return f"{before}{pk}{after}"
        return escape(
            add_preserved_filters(
                {"preserved_filters": cl.preserved_filters, "opts": cl.opts},
                cl.url_for_result(row),
            )
        )

    def linked(row) -> tuple[Any, str]:
        value, html = content(row)
        return value, f'<a href="{url(row)}">{html}</a>'

    return linked


def _cell(cl, name, empty: str, linked: bool) -> Planned | None:
    """The content of a column's cells (the value for the classes, and escaped HTML), and
    the extra classes Django gives it: lookup_field's order, then items_for_result's."""
    model_admin = cl.model_admin
    if name == "action_checkbox":
        if type(model_admin).action_checkbox is not ModelAdmin.action_checkbox:
            return None
        return _checkbox(cl), _no_classes
    if callable(name) or (hasattr(model_admin, name) and name != "__str__"):
        attr = name if callable(name) else getattr(model_admin, name)
        return (_computed(attr, empty), _date_classes) if callable(attr) else None
    if "__" in name:
        return None
    try:
        field = _get_non_gfk_field(cl.lookup_opts, name)
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        return None  # a model attribute or property: Django's way
    if field.auto_created:
        return _auto_field(name, empty), _date_classes
    nowrap = isinstance(field, models.DateField | models.TimeField | models.ForeignKey)
    classes = _nowrap_classes if nowrap else _no_classes
    if isinstance(field.remote_field, models.ManyToOneRel):
        return _related(field.name, empty), classes
    return _field_value(field, empty, linked), classes


def _no_classes(value) -> list[str]:
    return []


def _nowrap_classes(value) -> list[str]:
    return ["nowrap"]


def _date_classes(value) -> list[str]:
    return ["nowrap"] if isinstance(value, datetime.date | datetime.time) else []


def _blank_to_empty(value):
    return "" if isinstance(value, str) and value.strip() == "" else value


def _checkbox(cl):
    # Django renders it through the form widget templates, a template render per row: the
    # page renders it once with the marks and fills each row in.
    model_admin = cl.model_admin
    marked = conditional_escape(model_admin.action_checkbox(_MarkedRow(cl.lookup_opts.pk.attname)))
    before, _, rest = marked.partition(PK_MARK)
    middle, _, after = rest.partition(LABEL_MARK)
    if not (marked.count(PK_MARK) == marked.count(LABEL_MARK) == 1 and after):
        return lambda row: (None, conditional_escape(model_admin.action_checkbox(row)))

    def content(row) -> tuple[Any, str]:
        pk, label = conditional_escape(str(row.pk)), conditional_escape(str(row))
        return None, f"{before}{pk}{middle}{label}{after}"

    return content


def _computed(attr, empty: str):
    boolean = getattr(attr, "boolean", False)
    empty = getattr(attr, "empty_value_display", empty)

    def content(row) -> tuple[Any, str]:
        value = _blank_to_empty(attr(row))
        return value, conditional_escape(display_for_value(value, empty, boolean))

    return content


def _auto_field(name: str, empty: str):
    def content(row) -> tuple[Any, str]:
        value = _blank_to_empty(getattr(row, name))
        return value, _number_or_value(value, empty)

    return content


def _related(name: str, empty: str):
    def content(row) -> tuple[Any, str]:
        related = getattr(row, name)
        return related, empty if related is None else conditional_escape(related)

    return content


def _number_or_value(value, empty: str) -> str:
    # An int prints as itself unless thousands are grouped (numberformat's own shortcut).
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    return conditional_escape(display_for_value(value, empty))


def _field_value(field, empty: str, linked: bool):
    name = field.attname
    if getattr(field, "flatchoices", None):
        try:
            labels = {
                key: conditional_escape(label) for key, label in dict(field.flatchoices).items()
            }
        except TypeError:
            labels = None
        if labels is not None:
            return lambda row: (None, labels.get(_blank_to_empty(getattr(row, name)), empty))
    elif isinstance(field, models.BooleanField):
        icons: dict[Any, str] = {}

        def icon(row) -> tuple[Any, str]:
            value = getattr(row, name)
            if value not in icons:
                icons[value] = conditional_escape(_boolean_icon(value))
            return value, icons[value]

        return icon
    render = _field_renderer(field, empty, linked)

    def content(row) -> tuple[Any, str]:
        value = _blank_to_empty(getattr(row, name))
        if value in field.empty_values:
            return value, empty
        return value, render(value)

    return content


def _field_renderer(field, empty: str, linked: bool) -> Callable[[Any], str]:
    """display_for_field's branch for this field, for a value that is not empty."""
    if isinstance(field, models.DateTimeField):
        return lambda value: conditional_escape(
            formats.localize(timezone.template_localtime(value))
        )
    if isinstance(field, models.IntegerField | models.FloatField):
        return lambda value: _number_or_value(value, empty)
    plain = not isinstance(
        field, models.DecimalField | models.FileField | models.URLField | models.JSONField
    ) and not isinstance(field, models.DateField | models.TimeField)
    if plain:
        # Django's escape() is html.escape() behind a check for lazy text: a str needs none.
        return lambda value: html.escape(value) if type(value) is str else _other(value, empty)
    return lambda value: conditional_escape(
        display_for_field(value, field, empty, avoid_link=linked)
    )


def _other(value, empty: str) -> str:
    return conditional_escape(display_for_value(value, empty))
