"""The long tables' rows are written in Python (aliases/templatetags/portal_rows.py): they
print what the template filters printed, escape every value, and read aliases by key."""

from datetime import UTC, datetime

import pytest
from django.db.models import F
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from aliases import audit
from aliases.display import _pattern, datetime_text, number_text, truncator
from aliases.lookups import AnyOf
from aliases.models import Alias, AuditEvent
from aliases.selectors_inventory import aliases_ringing
from aliases.templatetags.portal_rows import int_url

from .inventory_helpers import adopted_alias

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _filtered(source: str, value) -> str:
    with translation.override("en-gb"):
        return Template("{% autoescape off %}" + source + "{% endautoescape %}").render(
            Context({"value": value})
        )


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 7, 14, 23, 59, 59, 999999, tzinfo=UTC),
        # 01:30 twice in New York that night: dateformat leaves the zone's name out.
        datetime(2024, 11, 3, 5, 30, tzinfo=UTC),
        datetime(2024, 11, 3, 6, 30, tzinfo=UTC),
        datetime(999, 1, 1, 12, 0, tzinfo=UTC),
    ],
)
def test_a_datetime_reads_as_the_date_filter_prints_it(zone, value):
    with timezone.override(zone), translation.override("en-gb"):
        assert datetime_text(value) == _filtered('{{ value|date:"DATETIME_FORMAT" }}', value)


def test_a_format_with_other_characters_is_left_to_django():
    assert (
        _pattern("Y-m-d H:i:s T")
        == "{0.year:04d}-{0.month:02d}-{0.day:02d} {0.hour:02d}:{0.minute:02d}:{0.second:02d} {1}"
    )
    assert _pattern("N j, Y, P") is None
    assert _pattern(r"Y \a\t H") is None
    assert datetime_text(None) == ""


@pytest.mark.parametrize(
    "text",
    ["", "short", "exactly13char", "fourteen chars", "0123456789abcdef" * 2, "é" * 20]
    + ["e\u0301" * 20, "ab\u0301cdefghijklmnop", XSS],
)
def test_a_truncated_text_reads_as_truncatechars_prints_it(text):
    with translation.override("en-gb"):
        assert truncator(13)(text) == _filtered("{{ value|truncatechars:13 }}", text)


def test_numbers_are_grouped_only_when_the_settings_say_so(settings):
    assert number_text(1234567) == "1234567"
    settings.USE_THOUSAND_SEPARATOR = True
    with translation.override("en-gb"):
        assert number_text(1234567) == _filtered("{{ value }}", 1234567)


@pytest.mark.parametrize("name", ["aliases:request_detail", "aliases:alias_detail"])
def test_an_int_url_is_the_reversed_one(name):
    url = int_url(name)
    for pk in (1, 10, 987654321, 12345678901):
        assert url(pk) == reverse(name, args=[pk])


@pytest.mark.django_db
def test_any_of_finds_the_rows_of_the_ids_given():
    first, _, third = (adopted_alias(f"desk_{n}", [f"10{n}"]) for n in range(3))
    found = Alias.objects.filter(AnyOf(F("pk"), [first.pk, third.pk]))
    assert sorted(found.values_list("pk", flat=True)) == [first.pk, third.pk]
    assert not Alias.objects.filter(AnyOf(F("pk"), [])).exists()


@pytest.mark.django_db
def test_aliases_ringing_lists_active_ones_in_inventory_order_with_their_logins():
    adopted_alias("b_desk", ["2002", "2001"])
    adopted_alias("A_desk", ["2001", "2003"])
    adopted_alias("off_desk", ["2001"], state=Alias.State.DISABLED)
    adopted_alias("other_desk", ["2009"])
    rows = aliases_ringing(login="2001")
    assert [(row.alias_id, row.logins) for row in rows] == [
        ("A_desk", ["2001", "2003"]),
        ("b_desk", ["2002", "2001"]),
    ]
    assert aliases_ringing(login="2999") == []


@pytest.mark.django_db
def test_the_rows_escape_what_they_show(client_for):
    auditor = client_for("auditor")
    adopted_alias("odd_desk", ["3001"], name=XSS)
    audit.record(event_type=AuditEvent.Type.EXTENSIONS_IMPORTED, extensions=["3001"], reason=XSS)
    for url in (
        reverse("aliases:extension_history", args=["3001"]),
        reverse("aliases:audit_list"),
    ):
        page = auditor.get(url).content.decode()
        assert XSS not in page
        assert ESCAPED in page
    inventory = client_for("admin").get(reverse("aliases:inventory")).content.decode()
    assert XSS not in inventory
    assert ESCAPED in inventory
