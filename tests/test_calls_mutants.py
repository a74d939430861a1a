"""What services/calls.py records and decides for each kind of VICIdial answer, pinned where
mutation testing found it loose: the status and reason after each result, the rows and
events written per attempt, and the resend count and backoff when nothing was sent."""

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from aliases import services
from aliases.models import AliasRequest, AuditEvent, VicidialCall
from aliases.services import calls, queue
from aliases.simulator import Fault

from .base import submit

Status = AliasRequest.Status
Type = AuditEvent.Type


def approve(users, **submit_kwargs) -> AliasRequest:
    alias_request = submit(users["supervisor"], **submit_kwargs)
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    return alias_request


def use_client(monkeypatch, client) -> None:
    """The worker makes its call with `client` (a test double of VICIdial's API)."""
    monkeypatch.setattr(queue, "vicidial_client_ready", lambda _client, **kwargs: client)


def last_event(alias_request) -> AuditEvent:
    return AuditEvent.objects.filter(request=alias_request).order_by("sequence").last()


def test_success_records_the_call_and_the_event_word_for_word(users, simulator, settings):
    alias_request = approve(users)
    assert alias_request.status == Status.SUCCEEDED
    call = VicidialCall.objects.get()
    line = (
        "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|sales_desk|Sales desk|1001,1002"
    )
    assert (call.function, call.method, call.url) == ("add_phone_alias", "POST", simulator.url)
    assert call.attempt == 1 and call.initiated_by == users["admin"]
    assert call.sent_params == [
        ["function", "add_phone_alias"],
        ["user", "6666"],
        ["pass", "********"],
        ["alias_id", "sales_desk"],
        ["alias_name", "Sales desk"],
        ["phone_logins", "1001,1002"],
        ["source", f"portal{alias_request.pk}"],
    ]
    assert call.source == f"portal{alias_request.pk}"
    assert (call.result, call.http_status, call.keyword) == ("succeeded", 200, "SUCCESS")
    assert call.reason == "PHONE ALIAS HAS BEEN ADDED"
    assert call.response_data == ["6666", "sales_desk", "Sales desk", "1001,1002"]
    assert call.response_body == line + "\n"
    assert (call.response_bytes, call.response_truncated) == (len(line) + 1, False)
    assert call.transport_error == ""
    assert call.duration_ms is not None and call.finished_at is not None
    assert alias_request.outcome_reason == line

    event = AuditEvent.objects.get(event_type=Type.VICIDIAL_CALL)
    assert (event.actor, event.request, event.call) == (users["admin"], alias_request, call)
    assert event.outcome == "succeeded" and event.reason == line
    assert event.changes == {
        "server": "default",
        "function": "add_phone_alias",
        "attempt": 1,
        "sent_params": call.sent_params,
        "http_status": 200,
        "duration_ms": call.duration_ms,
        "response_body": line + "\n",
        "response_bytes": len(line) + 1,
        "response_truncated": False,
    }
    assert list(event.extensions) == ["1001", "1002"]
    final = last_event(alias_request)
    assert final.event_type == Type.REQUEST_SUCCEEDED
    assert final.reason == line
    assert settings.VICIDIAL_API_PASS not in str(event.changes)


def test_a_refusal_fails_the_request_with_vicidials_line(users, simulator):
    simulator.state.add_alias("sales_desk", "Existing", "1001")
    alias_request = approve(users)
    assert alias_request.status == Status.FAILED
    assert alias_request.outcome_reason == (
        "ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|sales_desk"
    )
    assert last_event(alias_request).event_type == Type.REQUEST_FAILED
    assert VicidialCall.objects.get().result == "rejected"


def test_refused_credentials_fail_the_request_and_open_the_circuit(users, simulator, settings):
    settings.VICIDIAL_API_PASS = "Wrong-" + settings.VICIDIAL_API_PASS[::-1]
    alias_request = approve(users)
    assert alias_request.status == Status.FAILED
    assert alias_request.outcome_reason == (
        "ERROR: Login incorrect, please try again: |6666|********|BAD|"
    )
    assert VicidialCall.objects.get().result == "auth_failed"
    assert AuditEvent.objects.filter(event_type=Type.CIRCUIT_OPENED).count() == 1
    assert last_event(alias_request).event_type == Type.REQUEST_FAILED


def test_an_unknown_outcome_needs_verification_with_the_transport_error(users, simulator):
    simulator.state.inject(Fault(reset=True))
    alias_request = approve(users)
    assert alias_request.status == Status.NEEDS_VERIFICATION
    call = VicidialCall.objects.get()
    assert call.result == "unknown"
    assert alias_request.outcome_reason == call.transport_error != ""
    assert last_event(alias_request).event_type == Type.REQUEST_NEEDS_VERIFICATION
    assert AuditEvent.objects.get(event_type=Type.VICIDIAL_CALL).reason == call.transport_error


def test_nothing_sent_is_tried_three_times_in_all_then_fails(users, settings, unused_port):
    settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
    alias_request = approve(users)
    assert alias_request.status == Status.FAILED
    assert alias_request.outcome_reason == "connection refused"
    assert list(alias_request.calls.order_by("attempt").values_list("attempt", "result")) == [
        (1, "not_sent"),
        (2, "not_sent"),
        (3, "not_sent"),
    ]
    assert AuditEvent.objects.filter(event_type=Type.VICIDIAL_CALL).count() == 3
    assert last_event(alias_request).event_type == Type.REQUEST_FAILED


def test_a_resend_stops_at_the_first_answer(users, simulator, settings, monkeypatch):
    real = calls.VicidialClient.add_phone_alias
    seen = []

    def first_not_sent(self, **kwargs):
        seen.append(kwargs["deadline"])
        if len(seen) == 1:
            down = self.config.__class__(
                **{**self.config.__dict__, "url": "http://127.0.0.1:9/vicidial/x.php"}
            )
            return real(calls.VicidialClient(down), **kwargs)
        return real(self, **kwargs)

    monkeypatch.setattr(calls.VicidialClient, "add_phone_alias", first_not_sent)
    alias_request = approve(users)
    assert alias_request.status == Status.SUCCEEDED
    assert list(alias_request.calls.order_by("attempt").values_list("attempt", "result")) == [
        (1, "not_sent"),
        (2, "succeeded"),
    ]
    # The first attempt has the whole deadline, the resend only what is left of it.
    assert seen[0] is None
    assert 0 < seen[1] <= settings.VICIDIAL_TOTAL_DEADLINE


def test_the_backoff_doubles_with_jitter_between_resends(users, settings, unused_port, monkeypatch):
    settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
    settings.VICIDIAL_RETRY_BACKOFF = 0.004
    jitter, pauses = [], []
    monkeypatch.setattr(
        calls.random, "uniform", lambda low, high: jitter.append((low, high)) or 1.5
    )
    monkeypatch.setattr(calls.time, "sleep", pauses.append)
    approve(users)
    assert jitter == [(0.5, 1.5), (0.5, 1.5)]
    assert pauses == [pytest.approx(0.006), pytest.approx(0.012)]


def test_backoff_seconds(settings, monkeypatch):
    settings.VICIDIAL_RETRY_BACKOFF = 0.5
    monkeypatch.setattr(calls.random, "uniform", lambda low, high: high)
    assert [calls._backoff_seconds(n) for n in (1, 2, 3)] == [0.75, 1.5, 3.0]


def test_a_retry_answer_other_than_success_keeps_the_request_unverified(users, simulator):
    simulator.state.inject(Fault(reset=True, process=False))
    alias_request = approve(users)
    simulator.state.inject(Fault(status=200, body="ERROR: add_phone_alias NO PHONES - x\n"))
    services.alias_request_retry(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert alias_request.outcome_reason == calls.RETRY_UNSETTLED.format(
        result="refused by vicidial", evidence="ERROR: add_phone_alias NO PHONES - x"
    )
    assert last_event(alias_request).event_type == Type.REQUEST_NEEDS_VERIFICATION


def test_a_retry_that_finds_the_alias_says_the_earlier_call_probably_made_it(users, simulator):
    simulator.state.inject(Fault(reset=True))
    alias_request = approve(users)
    services.alias_request_retry(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert alias_request.outcome_reason == (
        f"{calls.PROBABLE_EARLIER_SUCCESS} "
        "(ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|sales_desk)"
    )


def test_a_retry_that_succeeds_settles_the_request(users, simulator):
    simulator.state.inject(Fault(reset=True, process=False))
    alias_request = approve(users)
    services.alias_request_retry(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.SUCCEEDED
    assert alias_request.outcome_reason.startswith("SUCCESS: add_phone_alias")


def test_no_free_slot_leaves_the_request_queued_with_nothing_sent(users, simulator, monkeypatch):
    monkeypatch.setattr(queue, "call_slot_acquire", lambda wait, server: None)
    alias_request = approve(users)
    assert alias_request.status == Status.QUEUED
    assert alias_request.outcome_reason == ""
    assert not simulator.state.requests_received
    assert not VicidialCall.objects.exists()
    assert queue.alias_request_call(alias_request.pk) == (
        "later: every in-flight slot for the server is taken"
    )


def test_no_free_slot_on_a_retry_leaves_it_queued_behind_its_earlier_call(
    users, simulator, monkeypatch
):
    simulator.state.inject(Fault(reset=True))
    alias_request = approve(users)
    monkeypatch.setattr(queue, "call_slot_acquire", lambda wait, server: None)
    services.alias_request_retry(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.QUEUED
    assert alias_request.calls.count() == 1


def test_longest_live_call_is_three_deadlines(settings):
    settings.VICIDIAL_TOTAL_DEADLINE = 7.5
    assert calls.longest_live_call() == timedelta(seconds=22.5)


def test_a_client_that_cannot_make_the_call_is_refused_before_anything_changes(settings):
    from aliases.errors import VicidialMisconfigured

    settings.VICIDIAL_HTTP_METHOD = "PUT"
    with pytest.raises(VicidialMisconfigured) as refused:
        calls.vicidial_client_ready(None, server="default", reference="12")
    assert str(refused.value) == (
        "The portal's VICIdial settings cannot make this call: VICIDIAL_HTTP_METHOD must be "
        "GET or POST, not 'PUT'. Nothing was changed; fix the configuration, then try again."
    )
    settings.VICIDIAL_HTTP_METHOD = "POST"
    with pytest.raises(VicidialMisconfigured, match="longer than 12 characters"):
        calls.vicidial_client_ready(None, server="default", reference="1" * 13)
    assert (
        calls.vicidial_client_ready(None, server="default", reference="12").config.method == "POST"
    )


def test_each_call_is_logged_on_one_line_without_the_password(users, simulator, caplog, settings):
    with caplog.at_level("INFO", logger="aliases.services.calls"):
        alias_request = approve(users)
    call = VicidialCall.objects.get()
    (logged,) = [r for r in caplog.records if r.name == "aliases.services.calls"]
    line = (
        "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|sales_desk|Sales desk|1001,1002"
    )
    assert logged.getMessage() == (
        f"request {alias_request.pk}: add_phone_alias on default attempt 1 -> succeeded "
        f"(HTTP 200, {call.duration_ms} ms, {len(line) + 1} bytes) '{line}'"
    )
    assert logged.levelname == "INFO"


def test_a_cut_answer_is_logged_as_cut(users, simulator, caplog, settings):
    settings.VICIDIAL_MAX_BODY_BYTES = 4096
    simulator.state.inject(Fault(padding=20_000))
    with caplog.at_level("INFO", logger="aliases.services.calls"):
        alias_request = approve(users)
    call = VicidialCall.objects.get()
    assert alias_request.status == Status.SUCCEEDED
    assert call.response_truncated and call.response_bytes > 20_000
    (logged,) = [r for r in caplog.records if r.name == "aliases.services.calls"]
    assert f"{call.response_bytes} bytes, cut) 'SUCCESS: add_phone_alias" in logged.getMessage()


def test_a_late_answer_is_logged_and_changes_nothing(users, simulator, caplog, monkeypatch):
    from django.utils import timezone

    from aliases.vicidial import VicidialClient

    class ReconciledMidCall(VicidialClient):
        def add_phone_alias(self, **kwargs):
            AliasRequest.objects.filter(status=Status.CALLING).update(
                updated_at=timezone.now() - timedelta(hours=1)
            )
            VicidialCall.objects.update(started_at=timezone.now() - timedelta(hours=1))
            services.alias_requests_reconcile_inflight(older_than=timedelta(minutes=10))
            return super().add_phone_alias(**kwargs)

    alias_request = submit(users["supervisor"])
    use_client(monkeypatch, ReconciledMidCall())
    with caplog.at_level("INFO", logger="aliases.services.calls"):
        returned = services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert returned.status == Status.NEEDS_VERIFICATION
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [
        f"request {alias_request.pk}: late VICIdial answer ignored, request is needs_verification"
    ]
    assert not AuditEvent.objects.filter(event_type=Type.REQUEST_SUCCEEDED).exists()


def test_a_request_settled_before_a_resend_is_not_sent_again(
    users, settings, unused_port, monkeypatch
):
    from django.utils import timezone

    from aliases.vicidial import VicidialClient

    settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"

    class ReconciledAfterFirstTry(VicidialClient):
        def add_phone_alias(self, **kwargs):
            reply = super().add_phone_alias(**kwargs)
            AliasRequest.objects.filter(status=Status.CALLING).update(
                updated_at=timezone.now() - timedelta(hours=1)
            )
            VicidialCall.objects.update(started_at=timezone.now() - timedelta(hours=1))
            services.alias_requests_reconcile_inflight(older_than=timedelta(minutes=10))
            return reply

    alias_request = submit(users["supervisor"])
    use_client(monkeypatch, ReconciledAfterFirstTry())
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert alias_request.calls.count() == 1
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION


def events_of(alias_request):
    return list(AuditEvent.objects.filter(request=alias_request).order_by("sequence"))


def events_since(sequence: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def head_sequence() -> int:
    last = AuditEvent.objects.order_by("sequence").last()
    return last.sequence if last else 0


@pytest.mark.parametrize(
    ("path", "types"),
    [
        (
            "answered",
            [
                Type.REQUEST_APPROVED,
                Type.REQUEST_CALL_STARTED,
                Type.VICIDIAL_CALL,
                Type.REQUEST_SUCCEEDED,
            ],
        ),
        (
            "refused-login",
            [
                Type.REQUEST_APPROVED,
                Type.REQUEST_CALL_STARTED,
                Type.VICIDIAL_CALL,
                Type.CIRCUIT_OPENED,
                Type.REQUEST_FAILED,
            ],
        ),
        # The call waits in the queue for a slot: nothing more is written until it is made.
        ("no-free-slot", [Type.REQUEST_APPROVED]),
        ("stopped-retry", None),
    ],
)
def test_every_event_of_a_call_names_the_admin_and_where_they_acted(
    users, simulator, settings, monkeypatch, path, types
):
    from aliases.audit import AuditContext

    context = AuditContext(source_ip="198.51.100.7", user_agent="Firefox/140")
    if path == "no-free-slot":
        monkeypatch.setattr(queue, "call_slot_acquire", lambda wait, server: None)
    if path == "refused-login":
        settings.VICIDIAL_API_PASS = "Wrong-" + settings.VICIDIAL_API_PASS[::-1]
    alias_request = submit(users["supervisor"])
    actor = users["admin"]
    if path == "stopped-retry":
        simulator.state.inject(Fault(reset=True))
        services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
        monkeypatch.setattr(
            calls, "vicidial_calls_stopped_reason", lambda server: "calls are stopped"
        )
        actor = users["admin2"]
    before = head_sequence()
    if path == "stopped-retry":
        services.alias_request_retry(request_id=alias_request.pk, actor=actor, context=context)
        alias_request.refresh_from_db()
        assert alias_request.outcome_reason == calls.RETRY_UNSETTLED.format(
            result="not sent",
            evidence="Not sent, nothing reached VICIdial: calls are stopped",
        )
    else:
        services.alias_request_approve(request_id=alias_request.pk, actor=actor, context=context)
    written = events_since(before)
    if types is not None:
        assert [e.event_type for e in written] == types
    else:
        assert written[-1].event_type == Type.REQUEST_NEEDS_VERIFICATION
    assert {(e.actor_id, e.source_ip, e.user_agent, e.correlation_id) for e in written} == {
        (actor.pk, "198.51.100.7", "Firefox/140", context.correlation_id)
    }


def test_an_empty_answer_needs_verification_and_says_so(users, simulator):
    simulator.state.inject(Fault(status=200, body=""))
    alias_request = approve(users)
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert alias_request.outcome_reason == "empty response body"
    assert VicidialCall.objects.get().keyword == "UNRECOGNISED"


def test_a_resend_that_no_longer_fits_the_deadline_is_not_made(users, simulator, monkeypatch):
    import urllib3.util.connection

    from aliases.vicidial import VicidialClient, VicidialConfig

    def slow_then_timeout(*args, **kwargs):
        threading.Event().wait(0.25)
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", slow_then_timeout)
    config = VicidialConfig.from_settings()
    tight = VicidialClient(replace(config, total_deadline=0.3, connect_timeout=0.1))
    alias_request = submit(users["supervisor"])
    use_client(monkeypatch, tight)
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.FAILED
    assert alias_request.calls.count() == 1
    assert alias_request.outcome_reason == "connect timeout after 0.1 s"


def test_a_client_given_is_the_client_used(simulator):
    from aliases.vicidial import VicidialClient

    given = VicidialClient()
    assert calls.vicidial_client_ready(given, server="default", reference="1") is given


def test_another_request_calling_does_not_keep_a_settled_one_resending(
    users, settings, unused_port, monkeypatch
):
    from django.utils import timezone

    from aliases.vicidial import VicidialClient

    settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
    other = submit(users["supervisor2"], alias_id="other_desk")

    class ReconciledAfterFirstTry(VicidialClient):
        def add_phone_alias(self, **kwargs):
            reply = super().add_phone_alias(**kwargs)
            AliasRequest.objects.filter(status=Status.CALLING).update(
                updated_at=timezone.now() - timedelta(hours=1)
            )
            VicidialCall.objects.update(started_at=timezone.now() - timedelta(hours=1))
            services.alias_requests_reconcile_inflight(older_than=timedelta(minutes=10))
            # Another admin's call to VICIdial is under way meanwhile.
            AliasRequest.objects.filter(pk=other.pk).update(status=Status.CALLING)
            return reply

    alias_request = submit(users["supervisor"])
    use_client(monkeypatch, ReconciledAfterFirstTry())
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert alias_request.calls.count() == 1
