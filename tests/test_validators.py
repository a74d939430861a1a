import pytest
from django.core.exceptions import ValidationError

from aliases.validators import (
    describe_character,
    is_phone_login,
    parse_phone_logins,
    validate_alias_id,
    validate_alias_name,
    validate_phone_login,
)


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


# The exact wording is what a supervisor reads under the field, so it is pinned here.


def message_of(check, value) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        check(value)
    return caught.value.messages[0], caught.value.code


@pytest.mark.parametrize(
    ("char", "described"),
    [(" ", "space"), ("!", "'!'"), ("é", "'é'"), ("\t", "U+0009"), ("\x7f", "U+007F")],
)
def test_describe_character(char, described):
    assert describe_character(char) == described


@pytest.mark.parametrize("char", "_-")
def test_alias_id_keeps_underscore_and_hyphen(char):
    validate_alias_id(f"a{char}b")


@pytest.mark.parametrize("char", " +.:/@!&'\"%#;,")
def test_alias_id_rejects_each_character_vicidial_strips_from_ids(char):
    message, code = message_of(validate_alias_id, f"a{char}b")
    assert code == "invalid_characters"
    assert message.endswith(f"delete: {describe_character(char)}.")


@pytest.mark.parametrize("char", " _+.:/@-")
def test_alias_name_keeps_each_punctuation_vicidial_keeps(char):
    validate_alias_name(f"a{char}b")


@pytest.mark.parametrize("char", "!&'\"%#;,=?()*\\")
def test_alias_name_rejects_each_character_vicidial_strips_from_names(char):
    message, code = message_of(validate_alias_name, f"a{char}b")
    assert code == "invalid_characters"
    assert message.endswith(f"delete: {describe_character(char)}.")


def test_alias_id_character_message_names_the_field_and_each_character_in_order():
    assert message_of(validate_alias_id, "Support Desk!") == (
        "Alias ID contains characters VICIdial would silently delete: space, '!'.",
        "invalid_characters",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a", "Alias ID must be 2 to 20 characters long (it is 1)."),
        ("a" * 21, "Alias ID must be 2 to 20 characters long (it is 21)."),
    ],
)
def test_alias_id_length_message(value, message):
    assert message_of(validate_alias_id, value) == (message, "length")


def test_alias_id_characters_are_checked_before_length():
    # A too-long ID with a bad character names the character: fixing the length alone
    # would not be enough.
    assert message_of(validate_alias_id, "a" * 25 + "!")[1] == "invalid_characters"


@pytest.mark.parametrize(
    ("value", "message", "code"),
    [
        ("O'Brien", "Alias name contains characters VICIdial would silently delete: '''.", None),
        ("X", "Alias name must be 2 to 50 characters long (it is 1).", "length"),
        ("N" * 51, "Alias name must be 2 to 50 characters long (it is 51).", "length"),
        (" Desk", "Alias name must not start or end with a space.", "surrounding_space"),
        ("Desk ", "Alias name must not start or end with a space.", "surrounding_space"),
    ],
)
def test_alias_name_messages(value, message, code):
    assert message_of(validate_alias_name, value) == (message, code or "invalid_characters")


def test_alias_name_may_have_spaces_inside():
    validate_alias_name("Help  Desk 2")


@pytest.mark.parametrize(
    ("text", "message", "code"),
    [
        ("", "Enter at least one phone login.", "required"),
        (
            " \n ",
            "The list has an empty entry (two commas in a row, or a trailing comma); "
            "VICIdial would report it as a phone that does not exist.",
            "empty_login",
        ),
        (
            "1001,,1002",
            "The list has an empty entry (two commas in a row, or a trailing comma); "
            "VICIdial would report it as a phone that does not exist.",
            "empty_login",
        ),
        (
            "1001,10.02",
            "Phone login '10.02' contains characters VICIdial would silently delete: '.'.",
            "invalid_characters",
        ),
        (
            "cc100,bb100,CC100",
            "Phone login CC100 is listed twice (VICIdial compares logins "
            "without regard to letter case: cc100).",
            "duplicate_login",
        ),
        (
            "1001,1001",
            "Phone login 1001 is listed twice (VICIdial compares logins "
            "without regard to letter case: 1001).",
            "duplicate_login",
        ),
        ("7", "The phone login list must be 2 to 255 characters long (it is 1).", "length"),
    ],
)
def test_parse_phone_logins_messages(text, message, code):
    assert message_of(parse_phone_logins, text) == (message, code)


def test_an_overlong_login_is_named_by_its_first_20_characters():
    login = "abcdefghijklmnopqrstuvwxyz0123"
    assert message_of(parse_phone_logins, f"1001,{login}") == (
        "Phone login 'abcdefghijklmnopqrst'… must be 1 to 15 characters long (it is 30).",
        "length",
    )


def test_one_character_logins_are_phones_too():
    assert parse_phone_logins("7,8") == ["7", "8"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1001\r\n1002", ["1001", "1002"]),
        ("1001\r\n\r\n1002", None),
        ("1001\n1002,1003", ["1001", "1002", "1003"]),
        ("1001\t,\t1002", ["1001", "1002"]),
    ],
)
def test_parse_phone_logins_line_breaks(text, expected):
    if expected is None:
        assert message_of(parse_phone_logins, text)[1] == "empty_login"
    else:
        assert parse_phone_logins(text) == expected


def test_a_lone_carriage_return_inside_a_login_is_named():
    assert message_of(parse_phone_logins, "10\r01")[0].endswith("delete: U+000D.")


def fifteen_wide(count: int) -> list[str]:
    return [f"p{n:014d}" for n in range(count)]


def test_joined_list_of_exactly_255_characters_is_accepted():
    logins = fifteen_wide(16)
    assert len(",".join(logins)) == 255
    assert parse_phone_logins(",".join(logins)) == logins


def test_joined_list_of_256_characters_is_refused():
    logins = [*fifteen_wide(15), "q1234567", "r123456"]
    assert len(",".join(logins)) == 256
    assert message_of(parse_phone_logins, ", ".join(logins)) == (
        "The phone login list must be 2 to 255 characters long (it is 256).",
        "length",
    )


def test_spaces_around_logins_do_not_count_towards_the_joined_limit():
    logins = fifteen_wide(16)
    assert parse_phone_logins(" ,  ".join(logins)) == logins


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("7", True),
        ("cc-100_A", True),
        ("a" * 15, True),
        ("a" * 16, False),
        ("10 01", False),
        ("10.01", False),
        ("1001\n", False),
    ],
)
def test_is_phone_login(value, expected):
    assert is_phone_login(value) is expected


def test_validate_phone_login_accepts_a_login():
    validate_phone_login("cc100")


@pytest.mark.parametrize("value", ["", "a" * 16, "10 01"])
def test_validate_phone_login_message(value):
    assert message_of(validate_phone_login, value) == (
        "A phone login is 1 to 15 letters, digits, - or _.",
        "invalid_login",
    )
