"""VicidialClient against the simulator as a real HTTP server: one request per call, no raises."""

import dataclasses
import html
import socket
from urllib.parse import parse_qsl, quote_plus, urlsplit

import pytest
import requests
import urllib3.util.connection
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.views.debug import SafeExceptionReporterFilter

from aliases.simulator import Fault, VicidialSimulator, demo_state, php_warnings
from aliases.vicidial import CallResult, Keyword, VicidialClient, VicidialConfig

PASSWORD = "S3cret pw!"  # VICIdial deletes " " and "!" before comparing
WRONG = "Wr0ng&pw <x>"


@pytest.fixture(scope="module")
def server():
    with VicidialSimulator() as running:
        yield running


@pytest.fixture
def sim(server):
    server.state = demo_state(user="6666", password=PASSWORD)
    server.state.add_user("7777", PASSWORD, user_level=7)
    return server


def client_for(sim, **overrides) -> VicidialClient:
    config = VicidialConfig(url=sim.url, user="6666", password=PASSWORD, source_tag="portal")
    return VicidialClient(dataclasses.replace(config, **overrides))


def add(client, alias_id="xyz100", reference="42", logins=("cc100", "bb100")):
    return client.add_phone_alias(
        alias_id=alias_id, alias_name="XYZ testing", phone_logins=logins, reference=reference
    )


def test_success_with_params_in_order_and_the_password_masked(sim):
    result = add(client_for(sim))
    assert result.result is CallResult.SUCCEEDED
    assert (result.http_status, result.method, result.function) == (200, "POST", "add_phone_alias")
    added = "PHONE ALIAS HAS BEEN ADDED - 6666|xyz100|XYZ testing|cc100,bb100"
    assert result.body == f"SUCCESS: add_phone_alias {added}\n"
    assert result.parsed.data == ("6666", "xyz100", "XYZ testing", "cc100,bb100")
    assert result.sent_params == (
        ("function", "add_phone_alias"),
        ("user", "6666"),
        ("pass", "********"),
        ("alias_id", "xyz100"),
        ("alias_name", "XYZ testing"),
        ("phone_logins", "cc100,bb100"),
        ("source", "portal42"),
    )
    assert (result.source, result.transport_error, result.url) == ("portal42", "", sim.url)
    assert sim.state.alias("xyz100").logins_list == "cc100,bb100"
    assert len(sim.state.requests_received) == 1


def test_post_by_default_keeps_the_password_out_of_the_url(sim):
    add(client_for(sim))
    (received,) = sim.state.requests_received
    assert received.method == "POST"
    assert "pass" not in received.path and PASSWORD not in received.path
    assert received.body.startswith(b"function=add_phone_alias&user=6666&pass=S3cret+pw%21&")
    assert parse_qsl(received.body.decode())[-1] == ("source", "portal42")


def test_get_mode_sends_the_same_fields_in_the_query_string(sim):
    result = add(client_for(sim, method="GET"))
    (received,) = sim.state.requests_received
    assert result.result is CallResult.SUCCEEDED
    assert result.method == received.method == "GET"
    query = parse_qsl(urlsplit(received.path).query)
    assert [name for name, _ in query] == [name for name, _ in result.sent_params]
    assert query[-1] == ("source", "portal42") and received.body == b""


def test_source_is_the_tag_and_the_request_number_and_goes_last(sim):
    longest = "portalEU"  # 8 letters, so 12 digits still fit VICIdial's 20
    result = add(client_for(sim, source_tag=longest), reference="123456789012")
    assert result.source == "portalEU123456789012"
    assert result.sent_params[-1] == ("source", "portalEU123456789012")
    assert result.http_status == 200  # nothing trips VICIdial's last-field logging bug


def test_requests_100000_and_1000_send_different_sources(sim):
    client = client_for(sim, source_tag="portalEU")
    sources = {add(client, alias_id=f"x{n}", reference=str(n)).source for n in (100000, 1000)}
    assert sources == {"portalEU100000", "portalEU1000"}


@pytest.mark.parametrize("reference", ["1234567890123", "REQ-7", "12 3", "１２"])
def test_a_source_that_would_not_fit_or_be_filtered_is_refused_not_cut(sim, reference):
    with pytest.raises(ValueError, match="reference"):
        add(client_for(sim), reference=reference)
    assert sim.state.requests_received == []


@pytest.mark.parametrize("tag", ["p", "portal-EU", "abcdefghijklmnop", "portál"])
def test_a_tag_that_leaves_no_room_for_the_request_number_is_refused(sim, tag):
    with pytest.raises(ImproperlyConfigured, match="VICIDIAL_API_SOURCE must be 2 to 8"):
        client_for(sim, source_tag=tag)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "PUT"}, "VICIDIAL_HTTP_METHOD must be GET or POST"),
        ({"total_deadline": 3.0}, "VICIDIAL_TOTAL_DEADLINE .* must exceed"),
        ({"max_body_bytes": 100}, "VICIDIAL_MAX_BODY_BYTES must be at least"),
    ],
)
def test_a_bad_configuration_is_refused_when_the_client_is_built(sim, overrides, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        client_for(sim, **overrides)


def test_update_rename_and_delete(sim):
    sim.state.add_alias("xyz100", "Old", "cc100")
    client = client_for(sim)
    renamed = client.update_phone_alias(alias_id="xyz100", alias_name="New name", reference="7")
    assert renamed.sent_params[3:] == (
        ("alias_id", "xyz100"),
        ("alias_name", "New name"),
        ("source", "portal7"),
    )
    assert renamed.parsed.reason == "PHONE ALIAS HAS BEEN UPDATED"
    relinked = client.update_phone_alias(
        alias_id="xyz100", phone_logins=["1001", "1002"], reference="7"
    )
    assert relinked.result is CallResult.SUCCEEDED
    assert sim.state.alias("xyz100").logins_list == "1001,1002"
    deleted = client.update_phone_alias(alias_id="xyz100", delete=True, reference="7")
    assert ("delete_alias", "Y") in deleted.sent_params
    assert deleted.parsed.reason == "PHONE ALIAS HAS BEEN DELETED"
    assert sim.state.alias("xyz100") is None


def test_version_needs_no_credentials(sim):
    result = client_for(sim).version()
    assert (result.result, result.parsed.function) == (CallResult.SUCCEEDED, "version")
    assert [name for name, _ in result.sent_params] == ["function", "source"]


@pytest.mark.parametrize(
    ("setup", "call", "reason", "expected_class"),
    [
        (
            lambda s: s.add_alias("xyz100", "x", "cc100"),
            add,
            "PHONE ALIAS ALREADY EXISTS",
            CallResult.REJECTED,
        ),
        (
            None,
            lambda c: add(c, logins=["cc100", "zz999"]),
            "PHONE DOES NOT EXIST",
            CallResult.REJECTED,
        ),
        (
            lambda s: s.add_alias("xyz100", "x", "cc100"),
            lambda c: c.update_phone_alias(alias_id="xyz100", phone_logins=["c"], reference="1"),
            "NO UPDATES DEFINED",
            CallResult.REJECTED,
        ),
        (
            lambda s: setattr(s.users["6666"], "user_level", 7),
            add,
            "USER DOES NOT HAVE PERMISSION TO ADD PHONE ALIASES",
            CallResult.REJECTED,
        ),
        (
            lambda s: setattr(s.users["6666"], "api_allowed_functions", "version"),
            add,
            "USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION",
            CallResult.REJECTED,
        ),
        (
            lambda s: setattr(s.users["6666"], "active", False),
            add,
            "Login incorrect",
            CallResult.AUTH_FAILED,
        ),
        (
            lambda s: setattr(s, "allowed_ips", {"10.0.0.9"}),
            add,
            "Your IP Address is not allowed: 127.0.0.1",
            CallResult.AUTH_FAILED,
        ),
        (None, lambda c: add(c, alias_id="a" * 25), "empty response body", CallResult.UNKNOWN),
    ],
    ids=["exists", "phone", "notice", "level", "function", "inactive", "ip", "strict-sql-500"],
)
def test_each_answer_lands_in_its_class(sim, setup, call, reason, expected_class):
    if setup:
        setup(sim.state)
    result = call(client_for(sim))
    assert reason in result.parsed.reason
    assert result.result is expected_class
    assert len(sim.state.requests_received) == 1


def forms_of(secret: str) -> list[str]:
    return [
        secret,
        quote_plus(secret),
        html.escape(secret),
        "".join(c for c in secret if c.isalnum()),
    ]


def test_wrong_password_is_auth_failed_and_no_password_appears_anywhere(sim):
    rejected = add(client_for(sim, password=WRONG))
    assert rejected.result is CallResult.AUTH_FAILED
    assert rejected.body == "ERROR: Login incorrect, please try again: |6666|********|BAD|\n"
    assert sim.state.requests_received[0].params["pass"] == WRONG  # it really was sent
    accepted = add(client_for(sim), alias_id="xyz101")
    assert accepted.result is CallResult.SUCCEEDED
    for secret, result in [(WRONG, rejected), (PASSWORD, accepted)]:
        everything = repr(result) + repr(client_for(sim, password=secret).config)
        for form in forms_of(secret):
            assert form not in everything


def test_lockout_blocks_the_right_password_and_ends_15_minutes_after_the_last_login(sim):
    now = [1_800_000_000.0]
    sim.state.clock = lambda: now[0]
    good, bad = client_for(sim), client_for(sim, password=WRONG)
    assert good.version().result is CallResult.SUCCEEDED  # no login involved
    assert add(good, alias_id="first").result is CallResult.SUCCEEDED
    assert [add(bad).result for _ in range(10)] == [CallResult.AUTH_FAILED] * 10
    locked = add(good)
    assert locked.result is CallResult.AUTH_FAILED
    assert locked.parsed.reason == "Too many login attempts, try again in 15 minutes"
    now[0] += 15 * 60
    assert add(good).result is CallResult.SUCCEEDED
    assert len(sim.state.requests_received) == 14


def test_success_body_with_http_500_counts_as_succeeded(sim):
    sim.state.inject(Fault(status=500))
    result = add(client_for(sim))
    assert (result.result, result.http_status) == (CallResult.SUCCEEDED, 500)


def test_success_after_php_warnings(sim):
    sim.state.inject(Fault(prefix=php_warnings(250)))
    result = add(client_for(sim))
    assert len(result.body) > 30_000
    assert result.result is CallResult.SUCCEEDED
    assert result.parsed.data[1] == "xyz100"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, ""),
        (200, "<html><body>Service Unavailable</body></html>"),
        (502, b"\xff\xfe\x00garbage"),
    ],
    ids=["empty-500", "html", "garbage"],
)
def test_unrecognised_answers_are_unknown(sim, status, body):
    sim.state.inject(Fault(status=status, body=body))
    result = add(client_for(sim))
    assert (result.result, result.http_status) == (CallResult.UNKNOWN, status)
    assert result.parsed.keyword is Keyword.UNRECOGNISED
    expected = body if isinstance(body, str) else body.decode("utf-8", "replace")
    # Word for word, except NUL: PostgreSQL text cannot hold it.
    assert result.body == expected.replace("\x00", "\ufffd")
    assert len(sim.state.requests_received) == 1


def test_redirects_are_not_followed(sim):
    sim.state.inject(Fault(status=302, body="", headers={"Location": sim.url}, process=False))
    result = add(client_for(sim))
    assert (result.result, result.http_status) == (CallResult.UNKNOWN, 302)
    assert len(sim.state.requests_received) == 1
    assert sim.state.alias("xyz100") is None


def test_read_timeout_is_unknown_and_the_work_may_be_done(sim):
    sim.state.inject(Fault(delay=1.0))
    result = add(client_for(sim, read_timeout=0.2))
    assert result.result is CallResult.UNKNOWN
    assert result.transport_error == "read timeout after 0.2 s"
    assert (result.http_status, result.body, result.parsed.reason) == (
        None,
        "",
        "read timeout after 0.2 s",
    )
    assert 150 <= result.duration_ms < 1000
    assert len(sim.state.requests_received) == 1
    assert sim.state.alias("xyz100") is not None  # why UNKNOWN must never be retried blindly


def test_connection_reset_is_unknown(sim):
    sim.state.inject(Fault(reset=True))
    result = add(client_for(sim))
    assert result.result is CallResult.UNKNOWN
    assert result.transport_error == "connection reset after the request was sent"
    assert len(sim.state.requests_received) == 1


def test_refused_connection_is_not_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = VicidialConfig(
        url=f"http://127.0.0.1:{port}/vicidial/non_agent_api.php",
        user="6666",
        password=PASSWORD,
        source_tag="pp",
    )
    result = add(VicidialClient(config))
    assert (result.result, result.transport_error) == (CallResult.NOT_SENT, "connection refused")
    assert result.parsed.keyword is Keyword.UNRECOGNISED and result.http_status is None


def fail_with(error: OSError):
    def create_connection(*args, **kwargs):
        raise error

    return create_connection


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "DNS lookup failed for the VICIdial host",
        ),
        (TimeoutError("timed out"), "connect timeout after 3.0 s"),
    ],
    ids=["dns", "connect-timeout"],
)
def test_failures_before_sending_are_not_sent(sim, monkeypatch, error, message):
    monkeypatch.setattr(urllib3.util.connection, "create_connection", fail_with(error))
    result = add(client_for(sim))
    assert (result.result, result.transport_error) == (CallResult.NOT_SENT, message)
    assert sim.state.requests_received == []


def test_invalid_url_is_not_sent_and_credentials_in_the_url_are_not_recorded(sim):
    result = add(client_for(sim, url="notaurl"))
    assert (result.result, result.transport_error) == (
        CallResult.NOT_SENT,
        "invalid VICIdial URL",
    )
    with_userinfo = sim.url.replace("http://", "http://proxyuser:proxypw@") + "?token=abc"
    result = add(client_for(sim, url=with_userinfo))
    assert result.result is CallResult.SUCCEEDED
    assert result.url == sim.url


def settings_ready():
    if not settings.configured:
        settings.configure()


def test_config_from_settings_and_its_repr_hides_the_password(sim):
    settings_ready()
    with override_settings(
        VICIDIAL_API_URL=sim.url,
        VICIDIAL_API_USER="6666",
        VICIDIAL_API_PASS=PASSWORD,
        VICIDIAL_API_SOURCE="demo",
        VICIDIAL_CONNECT_TIMEOUT=1,
        VICIDIAL_TIMEOUT=2,
        VICIDIAL_HTTP_METHOD="get",
        VICIDIAL_TOTAL_DEADLINE=4,
        VICIDIAL_MAX_BODY_BYTES=8192,
    ):
        config = VicidialConfig.from_settings()
        result = add(VicidialClient(), reference="5")
    assert config == VicidialConfig(sim.url, "6666", PASSWORD, "demo", 1.0, 2.0, "GET", 4.0, 8192)
    assert PASSWORD not in repr(config)
    assert (result.result, result.method, result.source) == (
        CallResult.SUCCEEDED,
        "GET",
        "demo5",
    )


def test_error_reports_mask_every_local_in_and_below_the_call(sim):
    settings_ready()

    class Exploding(requests.Session):
        def request(self, *args, **kwargs):
            raise RuntimeError("a bug, not a network problem")

    client = VicidialClient(client_for(sim).config, session=Exploding())
    with pytest.raises(RuntimeError) as raised:
        add(client)
    frames, traceback = [], raised.tb
    with override_settings(DEBUG=False):
        while traceback is not None:
            frame_vars = SafeExceptionReporterFilter().get_traceback_frame_variables(
                None, traceback.tb_frame
            )
            frames.append((traceback.tb_frame.f_code.co_name, repr(frame_vars)))
            traceback = traceback.tb_next
    named = dict(frames)
    assert {"_call", "_send", "request"} <= set(named)
    assert all(
        PASSWORD not in text for name, text in frames if name in ("_call", "_send", "request")
    )
    assert "'fields', '********************'" in named["_send"]


def test_an_alias_name_holding_the_password_is_sent_and_recorded_word_for_word(sim):
    sim.state.add_user("6666", "Desk2")
    client = client_for(sim, password="Desk2")
    result = client.add_phone_alias(
        alias_id="help2", alias_name="Help Desk2", phone_logins=["cc100"], reference="9"
    )
    assert result.result is CallResult.SUCCEEDED
    assert ("alias_name", "Help Desk2") in result.sent_params
    assert ("pass", "********") in result.sent_params
    assert result.body == (
        "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|help2|Help Desk2|cc100\n"
    )
    assert result.parsed.data[2] == "Help Desk2"
    # A wrong guess and the right one look the same to the requester: nothing is masked.
    guess = client.add_phone_alias(
        alias_id="help3", alias_name="Help Desk3", phone_logins=["cc100"], reference="9"
    )
    assert "Help Desk3" in guess.body and "Help Desk2" in result.body


def test_the_echoed_password_is_masked_while_the_users_values_next_to_it_are_not(sim):
    result = client_for(sim, password="Desk2").add_phone_alias(
        alias_id="Desk2", alias_name="Desk2", phone_logins=["cc100"], reference="9"
    )
    assert result.result is CallResult.AUTH_FAILED
    assert result.body == "ERROR: Login incorrect, please try again: |6666|********|BAD|\n"
    assert ("alias_id", "Desk2") in result.sent_params
