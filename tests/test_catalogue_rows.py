"""The new request form's catalogue rows, written in Python (portal_rows.catalogue_rows):
the markup the template's loop printed, every value escaped."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from aliases.models import Extension

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

# templates/aliases/request_form.html's loop before the rows moved to Python.
TEMPLATE_LOOP = (
    "{% load portal %}"
    "{% for extension in catalogue %}\n"
    "        <tr><td><code>{{ extension.login }}</code></td>{% if several %}<td>"
    "{{ extension.server|server_label }}</td>{% endif %}<td>{{ extension.protocol }}</td><td>"
    "{{ extension.description }}{% if not extension.known_to_vicidial %} "
    '<span class="badge text-bg-warning">not confirmed in VICIdial</span>{% endif %}</td></tr>\n'
    "      {% endfor %}"
)


@pytest.mark.parametrize("several", [False, True])
def test_the_catalogue_rows_print_what_the_template_printed(db, several):
    Extension.objects.create(login="1001", protocol="SIP", description="Front & back")
    Extension.objects.create(
        login="1002", protocol="IAX2", description=XSS, known_to_vicidial=False
    )
    catalogue = list(Extension.objects.order_by("login"))
    context = {"catalogue": catalogue, "several": several}
    expected = Template(TEMPLATE_LOOP).render(Context(context))
    rows = Template("{% load portal_rows %}{% catalogue_rows catalogue several %}")
    assert rows.render(Context(context)) == expected
    assert ESCAPED in expected and XSS not in expected


def test_the_form_lists_the_catalogue(client_for):
    Extension.objects.create(login="1003", protocol="SIP", description=XSS)
    page = client_for("supervisor").get(reverse("aliases:request_new")).content.decode()
    assert "<tr><td><code>1003</code></td><td>SIP</td><td>" + ESCAPED in page
    assert XSS not in page
