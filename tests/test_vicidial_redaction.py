"""redact: every form in which the password can come back is masked, and masking is stable."""

import html
from urllib.parse import quote, quote_plus

import pytest
from django.urls import reverse
from hypothesis import example, given
from hypothesis import strategies as st

from aliases import services
from aliases.models import AuditEvent, VicidialCall
from aliases.vicidial import redact

from .base import submit

SECRET = 'S3cr3t pw&<"x>!+'
FORMS = {
    "raw": SECRET,
    "quote_plus": quote_plus(SECRET),
    "quote": quote(SECRET, safe=""),
    "html": html.escape(SECRET),
    "html-no-quotes": html.escape(SECRET, quote=False),
    "vicidial-filtered": "S3cr3tpwx",
}


@pytest.mark.parametrize("form", FORMS)
def test_each_form_of_the_secret_is_masked(form):
    text = f"before {FORMS[form]} after"
    assert redact(text, SECRET) == "before ******** after"


def test_login_incorrect_echo_is_masked_whatever_it_holds():
    body = "ERROR: Login incorrect, please try again: |6666|someOtherPw|BAD|\n"
    expected = "ERROR: Login incorrect, please try again: |6666|********|BAD|\n"
    assert redact(body, SECRET) == expected
    assert redact(body, "") == expected


def test_an_empty_echo_and_other_text_stay_as_they_are():
    body = "ERROR: Login incorrect, please try again: |6666||BAD|\n"
    assert redact(body, "") == body
    success = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|x1|Desk|cc100\n"
    assert redact(success, SECRET) == success


def test_the_mask_avoids_characters_of_the_secret():
    assert redact("pw*1 and pw%2A1", "pw*1") == "######## and ########"
    assert redact("a x*#~^ b", "x*#~^") == "a " + "\u2588" * 8 + " b"


def test_longest_form_is_replaced_first():
    # The filtered form "1234" is inside the raw one; replacing it first would leave "!" behind.
    assert redact("x 1234! y", "1234!") == "x ******** y"
    assert redact("a+b|a b|a%20b|ab", "a b") == "********|********|********|********"


secrets = st.text(min_size=1, max_size=12)


@given(text=st.text(), secret=secrets)
@example(text="pass=%2A%2A&echo=|u|**|BAD|", secret="**")
@example(text="Login incorrect, please try again: |u|a|BAD|", secret="|")
def test_redact_never_leaves_the_secret_and_is_idempotent(text, secret):
    once = redact(text, secret)
    assert secret not in once
    assert redact(once, secret) == once


@st.composite
def texts_holding_the_secret(draw):
    secret = draw(secrets)
    forms = [secret, quote_plus(secret), quote(secret, safe=""), html.escape(secret)]
    pieces = draw(st.lists(st.one_of(st.text(max_size=5), st.sampled_from(forms))))
    login_line = (
        f"ERROR: Login incorrect, please try again: |6666|{draw(st.sampled_from(forms))}|BAD|"
    )
    return "".join(pieces) + "\n" + login_line + "\n", secret


@given(texts_holding_the_secret())
def test_redact_on_texts_full_of_secret_forms(case):
    text, secret = case
    once = redact(text, secret)
    assert secret not in once
    assert quote_plus(secret) not in once and html.escape(secret) not in once
    assert redact(once, secret) == once


# The user's own values are never edited, whatever the password is.


def test_a_value_the_user_asked_for_stays_as_it_is_even_when_it_holds_the_password():
    body = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|help2|Help Desk2|cc100\n"
    assert redact(body, "Desk2", keep=["help2", "Help Desk2", "cc100"]) == body


def test_the_password_outside_the_users_values_is_still_masked():
    body = "<b>Warning</b>: pass=Desk2 in line 7<br />\nSUCCESS: x - 6666|Help Desk2|cc100\n"
    expected = "<b>Warning</b>: pass=******** in line 7<br />\nSUCCESS: x - 6666|Help Desk2|cc100\n"
    assert redact(body, "Desk2", keep=["Help Desk2"]) == expected


def test_the_login_echo_is_masked_even_when_it_looks_like_the_users_value():
    body = "ERROR: Login incorrect, please try again: |6666|Desk2|BAD|\n"
    assert redact(body, "Desk2", keep=["Desk2"]) == (
        "ERROR: Login incorrect, please try again: |6666|********|BAD|\n"
    )


@pytest.mark.parametrize("php_quote", ["&#039;", "&apos;"])
def test_phps_html_forms_of_a_quote_are_masked(php_quote):
    secret = "it's-Secret-pw-1"
    text = f"<b>Notice</b>: value 'it{php_quote}s-Secret-pw-1' ignored"
    assert redact(text, secret) == "<b>Notice</b>: value '********' ignored"


def test_the_requester_sees_their_alias_name_as_typed_whatever_the_password(
    users, client_for, simulator, settings
):
    """With a password inside the alias name, masking it would tell the requester they had
    guessed the password. The name is the user's data: stored and shown as sent."""
    settings.VICIDIAL_API_PASS = "Desk2"
    simulator.state.add_user("6666", "Desk2")
    alias_request = submit(users["supervisor"], alias_id="help_desk", alias_name="Help Desk2")
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])

    call = VicidialCall.objects.get()
    assert call.result == "succeeded"
    assert ["alias_name", "Help Desk2"] in call.sent_params
    assert ["pass", "********"] in call.sent_params
    assert "|help_desk|Help Desk2|1001,1002" in call.response_body
    event = AuditEvent.objects.get(event_type=AuditEvent.Type.VICIDIAL_CALL)
    assert event.changes["response_body"] == call.response_body
    page = client_for("supervisor").get(reverse("aliases:request_detail", args=[alias_request.pk]))
    text = page.content.decode()
    assert "|help_desk|Help Desk2|1001,1002" in text
    assert "Help ********" not in text
