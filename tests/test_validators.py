import pytest
from django.core.exceptions import ValidationError

from aliases.validators import parse_phone_logins, validate_alias_id, validate_alias_name


@pytest.mark.parametrize("value", ["ab", "xyz100", "Sales_Desk-2", "a" * 20])
def test_alias_id_accepts_what_vicidial_keeps(value):
    validate_alias_id(value)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("Support Desk!", "space, '!'"),
        ("Café_1", "'é'"),
        ("id.z", "'.'"),
        ("ab\tc", "U+0009"),
    ],
)
def test_alias_id_names_the_characters_vicidial_would_strip(value, named):
    with pytest.raises(ValidationError) as caught:
        validate_alias_id(value)
    assert named in caught.value.messages[0]
    assert caught.value.code == "invalid_characters"


@pytest.mark.parametrize("value", ["a", "a" * 21, ""])
def test_alias_id_length(value):
    with pytest.raises(ValidationError) as caught:
        validate_alias_id(value)
    assert caught.value.code == "length"


@pytest.mark.parametrize("value", ["XY", "XYZ testing", "a+b.c:d/e@f_g-h", "N" * 50])
def test_alias_name_accepts_vicidial_charset(value):
    validate_alias_name(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("X", "length"),  # add would take it, update would not
        ("N" * 51, "length"),
        ('A&B "quoted"', "invalid_characters"),
        ("O'Brien desk", "invalid_characters"),
        ("line\nbreak", "invalid_characters"),
        ("東京 desk", "invalid_characters"),
        (" padded", "surrounding_space"),
        ("padded ", "surrounding_space"),
    ],
)
def test_alias_name_rejections(value, code):
    with pytest.raises(ValidationError) as caught:
        validate_alias_name(value)
    assert caught.value.code == code


def test_alias_name_error_lists_each_bad_character_once_in_order():
    with pytest.raises(ValidationError) as caught:
        validate_alias_name("A&B & C!")
    assert "'&', '!'" in caught.value.messages[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1001", ["1001"]),
        ("cc100,bb100", ["cc100", "bb100"]),
        (" 1001 , 1002 ", ["1001", "1002"]),
        ("1001\n1002", ["1001", "1002"]),
        ("CC100,bb100", ["CC100", "bb100"]),
    ],
)
def test_parse_phone_logins(text, expected):
    assert parse_phone_logins(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "required"),
        ("cc100,bb100,", "empty_login"),
        ("cc100,,bb100", "empty_login"),
        ("cc100,CC100", "duplicate_login"),
        ("cc 100", "invalid_characters"),
        ("cc100;bb100", "invalid_characters"),
        ("x", "length"),
        (",".join(f"p{n:04d}" for n in range(60)), "length"),
    ],
)
def test_parse_phone_logins_rejections(text, code):
    with pytest.raises(ValidationError) as caught:
        parse_phone_logins(text)
    assert caught.value.code == code


def test_phone_login_error_names_login_and_character():
    with pytest.raises(ValidationError) as caught:
        parse_phone_logins("1001,10.02")
    assert "'10.02'" in caught.value.messages[0]
    assert "'.'" in caught.value.messages[0]


def test_one_login_is_at_most_as_wide_as_vicidials_phones_login():
    with pytest.raises(ValidationError) as caught:
        parse_phone_logins("a" * 16)
    assert caught.value.code == "length"
    assert parse_phone_logins("a" * 15) == ["a" * 15]
