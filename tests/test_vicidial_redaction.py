"""redact: every form in which the password can come back is masked, and masking is stable."""

import html
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aliases.vicidial import redact

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
