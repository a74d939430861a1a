"""Behaviour of aliases/vicidial/* that mutation testing found unpinned: the cap's exact
markers and byte counts, the edges of redaction and of the password rules, the log filter,
and the deadline's shutdown of sockets that are already gone."""

import dataclasses
import logging
import socket
import ssl
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from aliases.vicidial import (
    CallResult,
    Keyword,
    VicidialClient,
    VicidialConfig,
    hide_passwords_from_urllib3_logs,
    password_weakness,
    redact,
)
from aliases.vicidial.body import BodyCollector
from aliases.vicidial.deadline import Watchdog
from aliases.vicidial.redaction import MIN_DISTINCT_CHARACTERS, MIN_PASSWORD_LENGTH

CAP = 4096


def capped(data: bytes, chunk: int = 1000):
    collector = BodyCollector(CAP)
    for start in range(0, len(data), chunk):
        collector.feed(data[start : start + chunk])
    return collector.finish()


def marker(count: str, where: str = "") -> str:
    return f"[... {count} bytes cut{' ' + where if where else ''} ...]\n"


# --- the cap: what is kept, and the counts people read ---------------------------------


def test_a_huge_body_without_any_line_break_keeps_both_ends_whole():
    kept = capped(b"A" * 10_000)
    assert kept.text == "A" * 2048 + marker("5,904") + "A" * 2048
    assert (kept.size, kept.truncated, kept.result_line) == (10_000, True, "")


def test_the_start_is_cut_after_its_last_line_break_even_a_very_early_one():
    kept = capped(b"A\n" + b"B" * 10_000)
    assert kept.text == "A\n" + marker("7,952") + "B" * 2048


def test_a_body_starting_with_a_line_break_and_no_other_keeps_its_whole_start():
    kept = capped(b"\n" + b"B" * 10_000)
    assert kept.text == "\n" + "B" * 2047 + marker("5,905") + "B" * 2048


def test_the_end_starts_after_its_first_line_break_even_at_its_first_byte():
    kept = capped(b"B" * 8000 + b"\n" + b"C" * 2047)
    assert kept.text == "B" * 2048 + marker("5,953") + "C" * 2047


def test_an_end_whose_only_line_break_is_its_last_byte_is_kept_whole():
    kept = capped(b"B" * 10_000 + b"\n")
    assert kept.text == "B" * 2048 + marker("5,905") + "B" * 2047 + "\n"


def test_a_result_line_in_the_middle_is_kept_between_two_exact_counts():
    line = b"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|a|b|c"
    kept = capped(b"x\n" * 3000 + line + b"\n" + b"y\n" * 3000)
    assert kept.result_line == line.decode()
    assert kept.text == (
        "x\n" * 1024
        + marker("3,952", "before the result line")
        + line.decode()
        + "\n"
        + marker("3,954", "after it")
        + "y\n" * 1023
    )
    # Every byte received is either kept or counted in a marker.
    assert 2048 + 3952 + len(line) + 1 + 3954 + 2046 == kept.size


def test_a_body_of_exactly_the_cap_is_kept_whole():
    body = b"z\n" * (CAP // 2)
    kept = capped(body)
    assert (kept.text, kept.truncated, kept.size) == (body.decode(), False, CAP)


# --- redaction at the edges of the user's own values ------------------------------------


@pytest.mark.parametrize(
    "kept",
    ["Desk2secret7Q", "Help Desk2secret7Q", "Desk2secret7Q line"],
    ids=["the-value-is-the-password", "value-ends-with-it", "value-starts-with-it"],
)
def test_a_password_that_reaches_an_edge_of_the_users_value_is_still_the_users_value(kept):
    text = f"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|a1|{kept}|cc100"
    assert redact(text, "Desk2secret7Q", keep=[kept]) == text


def test_a_password_running_past_the_users_value_is_masked():
    text = "name Help Desk2secret7Q!"
    assert redact(text, "Desk2secret7Q!", keep=["Help Desk2secret7Q"]) == "name Help ********"


# --- the start-up rule on the API password ----------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        # Only the characters VICIdial keeps count: spaces and "!" go before it compares.
        (
            "Ab1! cd2 ef3 g",
            f"it has 10 characters VICIdial keeps (letters, digits, - and _); "
            f"use at least {MIN_PASSWORD_LENGTH}",
        ),
        ("aaaabbbbcccc1", f"it uses fewer than {MIN_DISTINCT_CHARACTERS} different characters"),
        ("abcdefg1abcd", ""),
        (
            "abcdefgh",
            "it has 8 characters VICIdial keeps (letters, digits, - and _); use at least 12",
        ),
        ("1234567890123", "it is a common or all-digit password"),
        ("8302957146283", "it is a common or all-digit password"),
        ("abcdefghijklmnop", ""),
        ("administrator", "it is a common or all-digit password"),
        ("q-W_e9r8T7y6u5", ""),
    ],
)
def test_password_weakness_names_the_rule_broken(password, why):
    assert password_weakness(password) == why


def test_a_password_of_exactly_the_minimum_length_and_variety_is_accepted():
    assert password_weakness("abcdefgh1234") == ""  # 12 kept, 12 distinct
    assert password_weakness("abcdefghaaaa") == ""  # 8 distinct exactly
    assert password_weakness("abcdefgaaaaa") != ""  # 7 distinct


def test_a_common_password_is_refused_even_when_long_and_varied():
    assert password_weakness("qwertyuiop123") == "it is a common or all-digit password"


# --- urllib3's request lines in the log -------------------------------------------------


def urllib3_filters():
    logger = logging.getLogger("urllib3.connectionpool")
    return [f for f in logger.filters if type(f).__name__ == "_HideQueryPasswords"]


def test_the_log_filter_is_installed_once_however_often_it_is_asked_for():
    hide_passwords_from_urllib3_logs()
    hide_passwords_from_urllib3_logs()
    assert len(urllib3_filters()) == 1


def test_a_get_request_line_logged_by_urllib3_shows_no_password(caplog):
    hide_passwords_from_urllib3_logs()
    logger = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logger.debug(
            '%s://%s:%s "%s %s %s" %s %s',
            "http",
            "vici",
            80,
            "GET",
            "/api.php?function=version&user=6666&pass=S3cret+pw%21&source=p1",
            "HTTP/1.1",
            200,
            12,
        )
        logger.debug("a line with no %s", "password")
    first, second = caplog.records
    assert first.getMessage() == (
        'http://vici:80 "GET /api.php?function=version&user=6666&pass=********&source=p1 '
        'HTTP/1.1" 200 12'
    )
    assert (first.args, first.msg) == ((), first.getMessage())
    assert second.getMessage() == "a line with no password"
    assert second.args == ("password",)


def test_the_password_is_hidden_whatever_field_comes_first_or_ends_the_line(caplog):
    hide_passwords_from_urllib3_logs()
    logger = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logger.debug("GET /api.php?pass=abc&user=1")
        logger.debug('"GET /api.php?user=1&pass=abc" 200')
        logger.debug("GET /api.php?user=1&pass=abc def")
        logger.debug("GET /api.php?user=1&bypass=abc")
    assert [record.getMessage() for record in caplog.records] == [
        "GET /api.php?pass=********&user=1",
        '"GET /api.php?user=1&pass=********" 200',
        "GET /api.php?user=1&pass=******** def",
        "GET /api.php?user=1&bypass=abc",
    ]


# --- the deadline -----------------------------------------------------------------------


def test_an_expired_deadline_shuts_a_socket_that_is_already_closed_without_raising():
    watchdog = Watchdog(0.001)
    with watchdog:
        expired = threading.Event()
        for _ in range(200):
            if watchdog.expired:
                expired.set()
                break
            threading.Event().wait(0.005)
        assert expired.is_set()
        gone = socket.socket()
        gone.close()
        watchdog.watch(gone)  # registered after expiry: shut at once, quietly
        with pytest.raises(TimeoutError, match="deadline passed before the request was sent"):
            watchdog.about_to_send()
    assert watchdog.finish() is False
    assert watchdog.sending_started is False


# --- the client: each way the network can fail, as the admin reads it -------------------


class OneShotServer:
    """Accepts one connection, reads the request, then answers `reply` word for word (or
    closes without a word when it is None). Optionally over TLS with a self-signed cert."""

    def __init__(
        self, reply: bytes | None, *, tls: ssl.SSLContext | None = None, hold: float = 0
    ) -> None:
        self.reply, self.tls, self.hold = reply, tls, hold
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "OneShotServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.listener.close()
        self.thread.join(timeout=5)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/vicidial/non_agent_api.php"

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            if self.tls is not None:
                try:
                    connection = self.tls.wrap_socket(connection, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate: nothing was sent
            connection.settimeout(5)
            while b"source=" not in self.received:
                data = connection.recv(65536)
                if not data:
                    return
                self.received += data
            if self.reply is not None:
                connection.sendall(self.reply)
            self.done.wait(self.hold)  # then stall, connection open, until the test ends


def self_signed_context() -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp())
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def call(url: str, **overrides):
    config = VicidialConfig(url=url, user="6666", password=PASSWORD, source_tag="portal")
    client = VicidialClient(dataclasses.replace(config, **overrides))
    return client.add_phone_alias(
        alias_id="xyz100", alias_name="XYZ testing", phone_logins=["cc100"], reference="42"
    )


PASSWORD = "S3cret-pw-Kq9Zx"


def test_an_untrusted_tls_certificate_is_not_sent():
    with OneShotServer(b"", tls=self_signed_context()) as server:
        reply = call(server.url("https"))
    assert (reply.result, reply.transport_error) == (
        CallResult.NOT_SENT,
        "TLS certificate verification failed",
    )
    assert (reply.http_status, reply.body, reply.body_bytes) == (None, "", None)
    assert reply.parsed.reason == "TLS certificate verification failed"
    assert server.received == b""


def test_a_chunked_answer_cut_off_is_unknown_with_what_came_kept():
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\nERROR: add_ph"
    with OneShotServer(answer) as server:
        reply = call(server.url())
    assert (reply.result, reply.transport_error) == (
        CallResult.UNKNOWN,
        "response cut off while reading the body",
    )
    assert reply.http_status == 200
    assert b"pass=S3cret-pw-Kq9Zx" in server.received


def test_a_connection_closed_without_an_answer_is_unknown():
    with OneShotServer(None) as server:
        reply = call(server.url())
    assert (reply.result, reply.transport_error) == (
        CallResult.UNKNOWN,
        "connection closed without an answer",
    )
    assert (reply.http_status, reply.body) == (None, "")
    assert reply.parsed.reason == "connection closed without an answer"


def test_a_garbled_answer_names_the_error_and_is_unknown():
    with OneShotServer(b"NOT HTTP AT ALL\r\n\r\n") as server:
        reply = call(server.url())
    assert (reply.result, reply.transport_error) == (
        CallResult.UNKNOWN,
        "ConnectionError after the request may have been sent",
    )


def test_a_success_line_with_http_500_and_a_short_body_within_the_cap_is_success():
    body = b"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|xyz100|XYZ testing|cc100\n"
    answer = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    with OneShotServer(answer + body) as server:
        reply = call(server.url())
    assert (reply.result, reply.http_status, reply.body) == (
        CallResult.SUCCEEDED,
        500,
        body.decode(),
    )
    assert (reply.body_bytes, reply.body_truncated) == (len(body), False)


def test_a_huge_answer_is_parsed_from_its_streamed_result_line():
    line = b"ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|xyz100"
    body = b"w\n" * 200_000 + line + b"\n" + b"w\n" * 200_000
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    with OneShotServer(answer + body) as server:
        reply = call(server.url(), max_body_bytes=8192)
    assert reply.result is CallResult.REJECTED
    assert reply.parsed.reason == "PHONE ALIAS ALREADY EXISTS"
    assert (reply.body_bytes, reply.body_truncated) == (len(body), True)
    assert "bytes cut before the result line" in reply.body
    assert len(reply.body) < 8192 + 200


def test_a_huge_answer_without_a_result_line_says_how_much_was_searched():
    body = b"w\n" * 300_000
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    with OneShotServer(answer + body) as server:
        reply = call(server.url(), max_body_bytes=8192)
    assert reply.result is CallResult.UNKNOWN
    assert reply.parsed.reason == "no VICIdial result line in 600,000 bytes"


def test_an_unparseable_url_is_recorded_as_invalid_and_not_sent():
    reply = call("http://[::1/vicidial")
    assert (reply.result, reply.transport_error, reply.url) == (
        CallResult.NOT_SENT,
        "invalid VICIdial URL",
        "<invalid URL>",
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "PUT"}, "VICIDIAL_HTTP_METHOD must be GET or POST, not 'PUT'."),
        (
            {"source_tag": "p"},
            "VICIDIAL_API_SOURCE must be 2 to 8 letters or digits, not 'p': the request "
            "number is appended and VICIdial keeps 20 characters.",
        ),
        (
            {"total_deadline": 3.0, "connect_timeout": 3.0},
            "VICIDIAL_TOTAL_DEADLINE (3 s) must exceed VICIDIAL_CONNECT_TIMEOUT (3 s).",
        ),
        (
            {"total_deadline": 3.0, "connect_timeout": 0.0},
            "VICIDIAL_TOTAL_DEADLINE (3 s) must exceed VICIDIAL_CONNECT_TIMEOUT (0 s).",
        ),
        ({"max_body_bytes": 4095}, "VICIDIAL_MAX_BODY_BYTES must be at least 4096."),
    ],
)
def test_each_bad_setting_is_named_exactly(overrides, message):
    config = VicidialConfig(url="http://x", user="6666", password=PASSWORD, source_tag="portal")
    with pytest.raises(ImproperlyConfigured) as refused:
        dataclasses.replace(config, **overrides)
    assert str(refused.value) == message


def test_the_limits_themselves_are_accepted():
    config = VicidialConfig(url="http://x", user="6666", password=PASSWORD, source_tag="ab")
    edge = dataclasses.replace(
        config, source_tag="abcd1234", max_body_bytes=4096, total_deadline=1.01, connect_timeout=1
    )
    assert edge.source_for("1" * 12) == "abcd1234" + "1" * 12
    assert edge.source_for("") == "abcd1234"
    with pytest.raises(ValueError) as refused:
        edge.source_for("1" * 13)
    assert str(refused.value) == (
        "reference '1111111111111' is longer than 12 characters: the source would not fit "
        "VICIdial's 20-character column"
    )
    with pytest.raises(ValueError) as refused:
        edge.source_for("1-2")
    assert str(refused.value) == "a VICIdial source reference is letters and digits: '1-2'"


def test_config_defaults_from_settings_that_say_nothing(settings):
    for name in (
        "VICIDIAL_API_USER",
        "VICIDIAL_API_PASS",
        "VICIDIAL_API_SOURCE",
        "VICIDIAL_CONNECT_TIMEOUT",
        "VICIDIAL_TIMEOUT",
        "VICIDIAL_HTTP_METHOD",
        "VICIDIAL_TOTAL_DEADLINE",
        "VICIDIAL_MAX_BODY_BYTES",
    ):
        delattr(settings, name)
    settings.VICIDIAL_API_URL = "http://vici.example/api.php"
    assert VicidialConfig.from_settings() == VicidialConfig(
        "http://vici.example/api.php", "", "", "portal", 3.0, 10.0, "POST", 20.0, 256 * 1024
    )
    settings.VICIDIAL_API_URL = ""
    with pytest.raises(ImproperlyConfigured, match="^VICIDIAL_API_URL is not set$"):
        VicidialConfig.from_settings()


@pytest.fixture(scope="module")
def simulated():
    from aliases.simulator import VicidialSimulator, demo_state

    with VicidialSimulator() as running:
        running.state = demo_state(user="6666", password=PASSWORD)
        yield running


@pytest.fixture
def sim(simulated):
    from aliases.simulator import demo_state

    simulated.state = demo_state(user="6666", password=PASSWORD)
    return simulated


def client_of(sim, **overrides) -> VicidialClient:
    config = VicidialConfig(url=sim.url, user="6666", password=PASSWORD, source_tag="portal")
    return VicidialClient(dataclasses.replace(config, **overrides))


def test_version_is_sent_with_the_bare_tag_as_source(sim):
    reply = client_of(sim).version()
    assert reply.source == "portal"
    assert reply.sent_params == (("function", "version"), ("source", "portal"))


def test_an_update_is_held_to_the_deadline_it_is_given(sim):
    from aliases.simulator import Fault

    sim.state.add_alias("xyz100", "Old", "cc100")
    sim.state.inject(Fault(delay=1.0))
    reply = client_of(sim).update_phone_alias(
        alias_id="xyz100", alias_name="New", reference="7", deadline=0.3
    )
    assert (reply.result, reply.transport_error) == (
        CallResult.UNKNOWN,
        "no complete answer within 0.3 s; VICIdial may have acted",
    )
    assert reply.duration_ms < 900


# --- more edges: chunking, long lines, single-character secrets, late timers -------------


def excerpt_around(body: bytes, line: bytes, head: bytes, tail: bytes) -> str:
    """The excerpt people read: start, two counts, the result line, end."""
    line_start = body.index(line)
    line_end = line_start + len(line)
    tail_start = len(body) - len(tail)
    return (
        head.decode()
        + marker(f"{line_start - len(head):,}", "before the result line")
        + line.decode()
        + "\n"
        + marker(f"{tail_start - line_end - 1:,}", "after it")
        + tail.decode()
    )


@pytest.mark.parametrize("chunk", [1, 7, 999, 4096, 65536])
def test_the_counts_around_the_result_line_hold_whatever_the_chunk_size(chunk):
    line = b"ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|xyz100"
    body = b"x\n" * 3000 + line + b"\n" + b"y\n" * 3000
    kept = capped(body, chunk=chunk)
    assert kept.result_line == line.decode()
    assert kept.text == excerpt_around(body, line, b"x\n" * 1024, b"y\n" * 1023)


@pytest.mark.parametrize("chunk", [1000, 65536])
def test_a_result_line_after_a_tag_deep_in_one_huge_line_is_found_and_placed(chunk):
    line = b"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|a|b|c"
    body = b"x" * 30_000 + b"<br />" + line + b"\n" + b"y\n" * 3000
    kept = capped(body, chunk=chunk)
    assert kept.result_line == line.decode()
    assert kept.text == excerpt_around(body, line, b"x" * 2048, b"y\n" * 1023)


def test_a_keyword_without_a_result_line_shape_is_not_a_result_line():
    body = b"x\n" * 3000 + b"see ERROR: in the text\nSUCCESS:no space\n" + b"y\n" * 3000
    kept = capped(body)
    assert kept.result_line == ""
    assert marker(f"{len(body) - 2048 - 2046:,}") in kept.text


def test_a_result_line_without_a_final_line_break_is_found_at_the_end():
    body = b"x\n" * 3000 + b"NOTICE: update_phone_alias NO UPDATES DEFINED - xyz100\r"
    kept = capped(body)
    assert kept.result_line == "NOTICE: update_phone_alias NO UPDATES DEFINED - xyz100"


def test_a_short_body_keeps_its_result_line_and_every_byte():
    body = b"PHP Warning: x\r\n<br />VERSION: 2.14-917a|BUILD: 240101|DATE: 2026-12-02\r\n"
    kept = capped(body, chunk=5)
    assert kept.text == body.decode()
    assert kept.result_line == "VERSION: 2.14-917a|BUILD: 240101|DATE: 2026-12-02"
    assert (kept.size, kept.truncated) == (len(body), False)


def test_nul_bytes_and_bad_utf8_are_stored_as_replacement_characters():
    kept = capped(b"a\x00b\xffc\n")
    assert kept.text == "a\ufffdb\ufffdc\n"


def test_every_occurrence_of_a_one_character_secret_is_masked():
    assert redact("xaax", "a") == "x" + "*" * 16 + "x"


def test_the_mask_moves_on_when_the_secret_uses_every_symbol():
    assert redact("<x*#~^\u2588>", "x*#~^\u2588") == "<" + "\u2589" * 8 + ">"
    assert redact("<p*>", "p*") == "<########>"
    assert redact("<p*#>", "p*#") == "<~~~~~~~~>"
    assert redact("<p*#~>", "p*#~") == "<^^^^^^^^>"


def test_redacting_with_an_empty_value_to_keep_still_masks():
    assert redact("pw Kq9Zx-long1 end", "Kq9Zx-long1", keep=["", "zzz"]) == "pw ******** end"


def test_a_timer_that_fires_after_the_call_finished_changes_nothing():
    watchdog = Watchdog(60)
    with watchdog:
        sock = socket.socket()
        watchdog.watch(sock)
        assert watchdog.finish() is True
        watchdog._expire()  # the timer's last moment, racing the finish
        watchdog.about_to_send()
    assert watchdog.expired is False
    assert sock.fileno() != -1
    sock.close()
    assert watchdog.sending_started is True


def test_a_socket_watched_after_the_call_finished_is_not_shut_later():
    watchdog = Watchdog(60)
    with watchdog:
        watchdog.finish()
        late = socket.socket()
        watchdog.watch(late)
        watchdog.watch(None)
    assert watchdog._sockets == []
    late.close()


def test_an_expiring_deadline_shuts_the_watched_sockets():
    left, right = socket.socketpair()
    watchdog = Watchdog(0.05)
    with watchdog:
        watchdog.watch(left)
        left.settimeout(5)
        assert left.recv(10) == b""  # woken by the shutdown, not by the 5 s timeout
    assert watchdog.expired is True and watchdog.finish() is False
    left.close()
    right.close()


def test_no_watchdog_is_left_behind_after_a_call(sim):
    from aliases.vicidial.deadline import _watchdog

    assert client_of(sim).version().result is CallResult.SUCCEEDED
    assert _watchdog() is None


def test_the_deadline_timer_does_not_keep_the_process_alive():
    watchdog = Watchdog(60)
    assert watchdog._timer.daemon is True
    assert watchdog.seconds == 60 and watchdog.sending_started is False


def test_a_body_that_stalls_past_the_read_timeout_is_a_read_timeout():
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nPHP Warn"
    with OneShotServer(answer, hold=5) as server:
        reply = call(server.url(), read_timeout=0.2)
    assert (reply.result, reply.transport_error) == (CallResult.UNKNOWN, "read timeout after 0.2 s")
    assert reply.http_status == 200


def test_a_connection_that_fails_for_another_reason_could_not_connect(monkeypatch):
    import errno

    import urllib3.util.connection

    def unreachable(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", unreachable)
    reply = call("http://192.0.2.1/vicidial/non_agent_api.php")
    assert (reply.result, reply.transport_error) == (CallResult.NOT_SENT, "could not connect")


class RaisingSession:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def request(self, *args, **kwargs):
        raise self.error


def call_with_session_error(error: BaseException):
    config = VicidialConfig(url="http://x/", user="6666", password=PASSWORD, source_tag="portal")
    client = VicidialClient(config, session=RaisingSession(error))
    return client.add_phone_alias(alias_id="a1", alias_name="A", phone_logins=["1"], reference="1")


def test_an_error_chain_that_loops_still_ends_in_a_named_unknown():
    import requests

    outer, inner = requests.ConnectionError("outer"), ValueError("inner")
    outer.__context__, inner.__context__ = inner, outer
    reply = call_with_session_error(outer)
    assert (reply.result, reply.transport_error) == (
        CallResult.UNKNOWN,
        "ConnectionError after the request may have been sent",
    )


def test_the_cause_is_found_past_an_error_reached_twice():
    import requests

    seen_twice = ValueError("wrapper detail")
    error = requests.ConnectionError(seen_twice)
    error.__context__ = seen_twice
    error.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    reply = call_with_session_error(error)
    assert (reply.result, reply.transport_error) == (
        CallResult.UNKNOWN,
        "connection reset after the request was sent",
    )


def test_a_result_line_ending_in_x_keeps_its_last_letters():
    from aliases.vicidial.protocol import parse_response

    line = "ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|SALESBOX"
    assert parse_response(f"PHP Notice: x\n{line}\r\n").data == ("6666", "SALESBOX")
    assert capped((line + "\r\n").encode()).result_line == line
    huge = b"w\n" * 3000 + line.encode() + b"\r\n" + b"w\n" * 3000
    assert capped(huge).result_line == line


def test_a_result_line_of_exactly_the_scan_limit_is_still_found():
    from aliases.vicidial.body import LINE_LIMIT

    line = b"SUCCESS: version " + b"a" * (LINE_LIMIT - 17)
    assert len(line) == LINE_LIMIT
    collector = BodyCollector(CAP)
    collector.feed(line)
    collector.feed(b"\n" + b"w\n" * 3000)
    assert collector.finish().result_line == line.decode()


def test_warnings_that_name_every_keyword_do_not_hide_the_result_line():
    body = (
        b"PHP Notice: expected SUCCESS: or ERROR: or NOTICE: or VERSION: in api.php\n"
        b"ERROR: add_phone_alias PHONE DOES NOT EXIST: |6666|zz999\n"
    )
    kept = capped(body, chunk=len(body))
    assert kept.result_line == "ERROR: add_phone_alias PHONE DOES NOT EXIST: |6666|zz999"


def test_a_result_line_filling_the_whole_start_is_not_repeated():
    line = b"SUCCESS: version " + b"a" * (CAP // 2 - 17)
    body = line + b"\n" + b"w\n" * 3000
    kept = capped(body)
    assert kept.result_line == line.decode()
    assert kept.text == line.decode() + marker(f"{len(body) - 2048 - 2046:,}") + "w\n" * 1023


def test_a_result_line_opening_the_kept_end_is_not_repeated():
    line = b"ERROR: add_phone_alias PHONE DOES NOT EXIST: |6666|zz999"
    end = b"q\n" + line + b"\n"
    end += b"w\n" * ((CAP // 2 - len(end)) // 2)
    end = end + b"w" * (CAP // 2 - len(end))
    body = b"x\n" * 3000 + end
    kept = capped(body)
    tail = end[2:]
    assert kept.text == "x\n" * 1024 + marker(f"{len(body) - 2048 - len(tail):,}") + tail.decode()
    assert kept.text.count(line.decode()) == 1


def test_a_cut_answer_keeps_what_came_but_an_error_in_it_is_no_refusal():
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"10\r\nERROR: add_phone\r\n40\r\n_alias PH"
    )
    with OneShotServer(answer) as server:
        reply = call(server.url())
    assert (reply.body, reply.body_bytes, reply.body_truncated) == ("ERROR: add_phone", 16, False)
    assert (reply.parsed.keyword, reply.parsed.result_line) == (Keyword.ERROR, "ERROR: add_phone")
    # The answer was cut: VICIdial may still have acted, so it is no refusal.
    assert (reply.result, reply.transport_error) == (
        CallResult.UNKNOWN,
        "response cut off while reading the body",
    )


def test_a_result_line_split_right_after_a_line_that_only_mentions_a_keyword_is_found():
    collector = BodyCollector(CAP)
    collector.feed(b"PHP Notice: see ERROR: in the log\nSUCC")
    collector.feed(b"ESS: version 2.14-917a|BUILD: 240101\n")
    assert collector.finish().result_line == "SUCCESS: version 2.14-917a|BUILD: 240101"


def test_the_clients_session_works_in_a_thread_that_never_had_a_deadline(sim):
    from aliases.vicidial.client import _session_without_retries

    statuses = []

    def fetch():
        response = _session_without_retries().get(sim.url, params={"function": "version"})
        statuses.append((response.status_code, response.text.startswith("VERSION: ")))

    worker = threading.Thread(target=fetch)
    worker.start()
    worker.join(timeout=10)
    assert statuses == [(200, True)]


class HandshakeDripServer:
    """Takes the TLS ClientHello, then answers one byte of a never-ending handshake record
    every `interval` seconds: each read returns long before any per-read timeout, so only
    the call's total deadline can end it."""

    def __init__(self, *, interval: float = 0.1, give_up: float = 8.0) -> None:
        self.interval, self.give_up = interval, give_up
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "HandshakeDripServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)  # the ClientHello
            record = b"\x16\x03\x03\x40\x00" + b"\x00" * 0x4000  # a 16 KB handshake record
            for byte in record:
                if self.stop.wait(self.interval):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up: what this test wants


def test_a_tls_handshake_fed_one_byte_at_a_time_ends_within_the_deadline():
    # CPython bounds a whole TLS handshake by the socket's (connect) timeout, which the
    # settings keep below the deadline; either way the call cannot outlive the deadline.
    # The portal calls it unknown, the cautious reading: it never resends such a call.
    with HandshakeDripServer() as server:
        started = time.monotonic()
        reply = call(
            f"https://127.0.0.1:{server.port}/vicidial/non_agent_api.php",
            total_deadline=1.5,
            connect_timeout=1.0,
        )
        elapsed = time.monotonic() - started
    assert reply.result in (CallResult.NOT_SENT, CallResult.UNKNOWN)
    assert reply.http_status is None
    assert elapsed < 1.5 + 1.0
