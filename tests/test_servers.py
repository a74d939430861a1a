"""The registry of VICIdial servers: today's settings are `default`, VICIDIAL_SERVERS adds more."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from aliases import checks
from aliases.vicidial import VicidialClient
from aliases.vicidial.servers import (
    UnknownServer,
    server_choices,
    server_names,
    setting_name,
    vicidial_server,
)

from .test_config_guards import load_wsgi, production_env

EAST = {
    "API_URL": "https://east.example.com/vicidial/non_agent_api.php",
    "API_PASS": "East-Api-Pass-93721",
    "LABEL": "East cluster",
}


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_flat_settings_are_the_server_named_default(settings):
    settings.VICIDIAL_SERVERS = {}
    settings.VICIDIAL_API_URL = "https://main.example.com/vicidial/non_agent_api.php"
    settings.VICIDIAL_DB_URL = "mysql://ro@main-db/asterisk"
    settings.VICIDIAL_MAX_IN_FLIGHT = 2
    server = vicidial_server()
    assert (server.name, server.label, server.config.url) == (
        "default",
        "default",
        "https://main.example.com/vicidial/non_agent_api.php",
    )
    assert (server.db_url, server.max_in_flight) == ("mysql://ro@main-db/asterisk", 2)
    assert server_names() == ["default"]
    assert VicidialClient().config == server.config


def test_another_server_inherits_tuning_but_never_the_address_password_or_database(settings):
    settings.VICIDIAL_API_USER = "6666"
    settings.VICIDIAL_TIMEOUT = 7.0
    settings.VICIDIAL_DB_URL = "mysql://ro:main-secret@main-db/asterisk"
    settings.VICIDIAL_SERVER_LABEL = "Main cluster"
    settings.VICIDIAL_SERVERS = {"east": {**EAST, "API_USER": "", "MAX_IN_FLIGHT": "3"}}
    east = vicidial_server("east")
    assert east.label == "East cluster"
    assert east.config.url == EAST["API_URL"]
    assert east.config.password == EAST["API_PASS"]
    assert (east.config.user, east.config.read_timeout) == ("6666", 7.0)
    assert east.db_url == ""  # the default server's database is not east's
    assert east.max_in_flight == 3
    assert server_choices() == [("default", "Main cluster"), ("east", "East cluster")]
    assert VicidialClient(server="east").config.url == EAST["API_URL"]
    assert "East-Api-Pass" not in repr(east)


def test_an_unknown_server_is_refused_by_name(settings):
    settings.VICIDIAL_SERVERS = {}
    with pytest.raises(UnknownServer, match="'west'"):
        vicidial_server("west")
    with pytest.raises(UnknownServer):
        vicidial_server("West Coast")


def test_a_server_without_url_cannot_make_a_client(settings):
    settings.VICIDIAL_SERVERS = {"east": {"API_PASS": "x"}}
    with pytest.raises(ImproperlyConfigured, match="^VICIDIAL_EAST_API_URL is not set$"):
        vicidial_server("east")


def test_checks_name_the_variable_of_the_server_at_fault(settings):
    settings.VICIDIAL_SERVERS = {
        "east": {**EAST, "API_URL": "ftp://east", "HTTP_METHOD": "PUT", "TIMEOUT": "soon"}
    }
    problems = checks.vicidial_settings(None)
    texts = {message.id: message.msg for message in problems}
    assert texts["aliases.E001"].startswith("VICIDIAL_EAST_API_URL must be")
    assert texts["aliases.E004"] == "VICIDIAL_EAST_HTTP_METHOD must be POST or GET."
    assert texts["aliases.E011"] == "VICIDIAL_EAST_TIMEOUT must be a number."


def test_checks_refuse_a_bad_server_name_and_a_weak_password_on_any_server(settings):
    settings.DEBUG = False
    settings.VICIDIAL_SERVERS = {"East-1": EAST, "east": {**EAST, "API_PASS": "secret"}}
    problems = checks.vicidial_settings(None)
    assert "aliases.E010" in ids(problems)
    weak = [message.msg for message in problems if message.id == "aliases.E005"]
    assert weak and weak[0].startswith("VICIDIAL_EAST_API_PASS is too weak")


def test_plain_http_is_flagged_per_server(settings):
    settings.VICIDIAL_API_URL = "https://main.example.com/vicidial/non_agent_api.php"
    settings.VICIDIAL_SERVERS = {"east": {**EAST, "API_URL": "http://east.example.com/api.php"}}
    (warning,) = checks.vicidial_over_tls(None)
    assert warning.msg.startswith("VICIDIAL_EAST_API_URL is plain http")


def test_setting_names():
    assert setting_name("default", "API_PASS") == "VICIDIAL_API_PASS"
    assert setting_name("east", "API_PASS") == "VICIDIAL_EAST_API_PASS"
    assert setting_name("east", "DB_URL") == "VICIDIAL_EAST_DB_URL"


def test_error_reports_hide_every_servers_password_and_database_url(settings):
    settings.VICIDIAL_SERVERS = {
        "east": {**EAST, "DB_URL": "mysql://ro:Db-Pw-4471@east-db/asterisk"}
    }
    reporter = import_string(settings.DEFAULT_EXCEPTION_REPORTER_FILTER)()
    shown = repr(reporter.get_safe_settings())
    assert "East-Api-Pass-93721" not in shown and "Db-Pw-4471" not in shown


def test_production_needs_a_password_for_each_server():
    env = production_env(
        VICIDIAL_SERVERS="east",
        VICIDIAL_EAST_API_URL="https://east.example.com/vicidial/non_agent_api.php",
    )
    refused = load_wsgi(env)
    assert refused.returncode != 0
    assert "VICIDIAL_EAST_API_PASS must be set when DEBUG is off." in refused.stderr
    started = load_wsgi({**env, "VICIDIAL_EAST_API_PASS": "Fz1-" + "q7Lm2Rt9Wx4Kp8Hd3"})
    assert started.returncode == 0, started.stderr
