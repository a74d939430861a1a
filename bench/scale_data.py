"""The synthetic trail bench/scale.py loads: requests, calls, events and the extension index,
each row shaped as the portal's services write it (aliases/services/submissions.py,
requests.py, queue.py, calls.py, transitions.py, signals.py, views/audit.py).

The whole data set covers two years. A load of fractions 0.1 then 1 writes two segments of
that timeline, the first 10% of it and then the rest, so the second continues the first's
hash chain and ids exactly as a running portal would. Each request lives and ends inside its
segment, so every segment leaves a consistent state. Nothing here touches the database: the
loader (bench/scale_load.py) streams what `Segment.events()` and friends yield into COPY.

Sizes at 100% (the issue's data set): 100,000 requests, 1,000,000 VICIdial calls, 2,000,000
events, about 2.6 million index rows over 20,000 extensions, Zipf-skewed so the busiest one
has about 18,000 events. 1,000,000 calls over 100,000 requests is about 11 attempts per
called request: more than VICIdial usually needs, but it is the measured data set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from json.encoder import encode_basestring as json_string  # what json.dumps uses for str
from types import SimpleNamespace

REQUESTS = 100_000
CALLS = 1_000_000
EVENTS = 2_000_000
EXTENSIONS = 20_000
INDEX_ROWS = 2_600_000
BUSIEST_EVENTS = 18_000
SPAN = timedelta(days=730)
SERVER = "default"
API_URL = "https://vicidial.example.com/vicidial/non_agent_api.php"
API_USER = "6666"
PASS_MASK = "********"  # noqa: S105 - what the client records instead of the password
SUPERVISORS, ADMINS, AUDITORS = 40, 12, 4

# The COPY column lists, in the order the row tuples below hold them.
COLUMNS = {
    "aliases_extension": "id, server, login, extension, protocol, description, server_ip, "
    "known_to_vicidial, updated_at",
    "aliases_auditevent": "id, sequence, occurred_at, event_type, actor_id, actor_username, "
    "actor_role, source_ip, user_agent, correlation_id, request_id, call_id, extensions, "
    "outcome, reason, changes, prev_hash, hash, key_id, mac",
    "aliases_auditeventextension": "id, event_id, login",
    "aliases_vicidialcall": "id, request_id, initiated_by_id, server, function, method, url, "
    "sent_params, source, attempt, result, http_status, response_body, response_bytes, "
    "response_truncated, keyword, reason, response_data, transport_error, duration_ms, "
    "started_at, finished_at",
    "aliases_aliasrequest": "id, server, kind, alias_record_id, alias_id, alias_name, "
    "previous_name, previous_logins, justification, status, requester_id, decided_by_id, "
    "decision_note, queued_by_id, upload_batch_id, approval_batch_id, outcome_reason, "
    "submission_token, created_at, decided_at, completed_at, updated_at",
    "aliases_requestedlogin": "id, request_id, login, position, extension_id",
    "aliases_alias": "id, server, alias_id, alias_name, state, origin, last_request_id, "
    "created_at, updated_at",
    "aliases_aliaslogin": "id, alias_id, login, position",
}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = 1_000_000  # timestamps are integer microseconds, as PostgreSQL keeps them
HOUR = 3600 * SECOND

# Of all requests: how each ended. Called requests split into the last three.
STATUS_SHARES = (
    ("pending", 0.03),
    ("cancelled", 0.03),
    ("rejected", 0.06),
    ("succeeded", 0.84),
    ("failed", 0.03),
    ("needs_verification", 0.01),
)
CALLED = ("succeeded", "failed", "needs_verification")
LIVE = ("pending", "needs_verification")  # hold their alias ID for ever
KIND_SHARES = (("add", 0.75), ("change", 0.15), ("disable", 0.07), ("enable", 0.03))
# Events without a request, of the rest of the budget.
BACKGROUND_SHARES = (
    ("auth.login", 0.35),
    ("auth.logout", 0.25),
    ("view.extension", 0.15),
    ("view.trail", 0.15),
    ("auth.login_failed", 0.06),
    ("access.denied", 0.03),
    ("audit.exported", 0.01),
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
)
TEAMS = ("Sales", "Support", "Billing", "Retention", "Outbound", "Night shift", "Escalations")
JUSTIFICATIONS = (
    "New hires on the {team} floor need one number that rings their desks.",
    "The {team} team moved to the second floor; the alias must follow them.",
    "Customers call {team} on one published number; add the new desks to it.",
    "{team} lost two seats this quarter; ring only the desks still in use.",
)
NOT_SENT_ERROR = "connect: connection refused by vicidial.example.com (nothing was sent)"
TIMEOUT_ERROR = "read timed out after 10.0 s: VICIdial may have acted on the call"


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


NAIVE_EPOCH = datetime(1970, 1, 1)
# chain.canonical_bytes's JSON (sorted keys, no spaces, UTF-8) with the values left open.
CANONICAL = (
    '{"actor_id":%s,"actor_role":%s,"actor_username":%s,"call_id":%s,"changes":%s,'
    '"correlation_id":%s,"event_type":%s,"extensions":%s,"occurred_at":"%s","outcome":%s,'
    '"reason":%s,"request_id":%s,"sequence":%d,"source_ip":%s,"user_agent":%s}'
)


def hashed_time(us: int) -> str:
    """chain.hashed_time of the instant: UTC, microseconds always, a Z."""
    return (NAIVE_EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds") + "Z"


def json_value(value: int | None) -> str:
    return "null" if value is None else str(value)


def zipf_exponent(count: int, top_share: float) -> float:
    """The s of weights k**-s (k = 1..count) whose largest is `top_share` of their sum."""
    low, high = 0.01, 3.0
    for _ in range(50):
        s = (low + high) / 2
        share = 1 / sum(k**-s for k in range(1, count + 1))
        low, high = (s, high) if share < top_share else (low, s)
    return (low + high) / 2


@dataclass(frozen=True)
class Users:
    """The people of the data set: (pk, username, role label) each."""

    supervisors: list[tuple[int, str, str]]
    admins: list[tuple[int, str, str]]
    auditors: list[tuple[int, str, str]]

    @property
    def everyone(self) -> list[tuple[int, str, str]]:
        return self.supervisors + self.admins + self.auditors


def user_ip(pk: int) -> str:
    return f"10.20.{pk // 250}.{pk % 250 + 1}"


def user_agent(pk: int) -> str:
    return USER_AGENTS[pk % len(USER_AGENTS)]


@dataclass(frozen=True)
class Catalogue:
    """The 20,000 phones (Extension pk = index + 1), and their Zipf weights."""

    logins: list[str]
    cumulative: list[float]

    @classmethod
    def build(cls, seed: int) -> Catalogue:
        logins = [str(10000 + i) for i in range(15000)] + [f"sip{i}" for i in range(5000)]
        rng = random.Random(seed)
        ranked = list(range(EXTENSIONS))
        rng.shuffle(ranked)  # the busiest phone is not the first login
        s = zipf_exponent(EXTENSIONS, BUSIEST_EVENTS / INDEX_ROWS)
        weights = [0.0] * EXTENSIONS
        for rank, index in enumerate(ranked, start=1):
            weights[index] = rank**-s
        return cls(logins, list(accumulate(weights)))

    def pick(self, rng: random.Random) -> int:
        return bisect_left(self.cumulative, rng.random() * self.cumulative[-1])

    def distinct(self, rng: random.Random, count: int) -> list[str]:
        chosen: list[int] = []
        while len(chosen) < count:
            index = self.pick(rng)
            if index not in chosen:
                chosen.append(index)
        return [self.logins[index] for index in chosen]

    def extension_rows(self, updated_at: datetime):
        for pk, login in enumerate(self.logins, start=1):
            protocol = "IAX2" if pk % 17 == 0 else "SIP"
            yield (
                pk,
                SERVER,
                login,
                login,
                protocol,
                f"Desk {login}",
                "10.1.0.10",
                True,
                updated_at,
            )


@dataclass
class Cursor:
    """Where the previous segment (or anything since) stopped: the next ids, and the chain."""

    request: int = 1
    call: int = 1
    sequence: int = 1
    index_row: int = 1
    alias: int = 1
    alias_login: int = 1
    requested_login: int = 1
    prev_hash: str = ""


@dataclass(eq=False)
class AliasPlan:
    alias_id: str
    name: str
    logins: list[str]
    state: str = "active"
    busy_until: int = 0
    created_us: int = 0
    updated_us: int = 0
    last_request: Request | None = None
    pk: int = 0


@dataclass(eq=False)
class Request:
    kind: str
    status: str
    created_us: int
    requester: tuple[int, str, str]
    alias_id: str
    name: str
    logins: list[str]
    prev_name: str = ""
    prev_logins: list[str] = field(default_factory=list)
    alias: AliasPlan | None = None
    decider: tuple[int, str, str] | None = None
    decided_us: int | None = None
    completed_us: int | None = None
    calls: list[int] = field(default_factory=list)  # each attempt's end, in microseconds
    note: str = ""
    justification: str = ""
    inventory: dict | None = None  # the succeeded step's before/after, alias pk added later
    corr_create: str = ""
    corr_decide: str = ""
    pk: int = 0
    call_ids: list[int] = field(default_factory=list)

    def touched(self) -> list[str]:
        seen = {login.lower() for login in self.logins}
        return self.logins + [login for login in self.prev_logins if login.lower() not in seen]


def _choice(rng: random.Random, shares) -> str:
    roll, total = rng.random(), 0.0
    for name, share in shares:
        total += share
        if roll < total:
            return name
    return shares[-1][0]


class Segment:
    """One stretch of the timeline, [start, end), holding `share` of every count."""

    def __init__(
        self,
        *,
        number: int,
        start: datetime,
        end: datetime,
        share: float,
        users: Users,
        catalogue: Catalogue,
        cursor: Cursor,
        seed: int = 10,
    ) -> None:
        self.number = number
        self.start_us, self.end_us = micros(start), micros(end)
        self.users = users
        self.catalogue = catalogue
        self.cursor = cursor
        self.rng = random.Random(seed * 1000 + number)
        self.requests_count = round(REQUESTS * share)
        self.calls_count = round(CALLS * share)
        self.events_count = round(EVENTS * share)
        self.requests: list[Request] = []
        self.aliases: list[AliasPlan] = []
        self.head_hash = cursor.prev_hash
        self.index_rows = 0
        self._plan()

    # Planning: who asks what when, and how it ends (in creation order) -------------------
    def _correlation(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _plan(self) -> None:
        rng = self.rng
        times = sorted(
            rng.randrange(self.start_us, self.end_us) for _ in range(self.requests_count)
        )
        for number, created in enumerate(times):
            self.requests.append(self._plan_request(number, created))
        self._plan_calls()
        request_events = sum(self._events_of(request) for request in self.requests)
        self.background_count = max(0, self.events_count - request_events)

    def _plan_request(self, number: int, created: int) -> Request:
        rng = self.rng
        status = _choice(rng, STATUS_SHARES)
        kind = _choice(rng, KIND_SHARES)
        team = rng.choice(TEAMS)
        requester = rng.choice(self.users.supervisors)
        target = self._free_alias(kind, created) if kind != "add" else None
        if target is None:
            kind = "add"
        # About 1.6 phones per request (a change touches its old ones too): 2.6 million
        # index rows over the request events.
        count = 1 + sum(rng.random() < 0.21 for _ in range(3))
        request = Request(
            kind=kind,
            status=status,
            created_us=created,
            requester=requester,
            alias_id=target.alias_id if target else f"s{self.number}a{number:06d}",
            name=target.name if target else f"{team} {number % 1000}",
            logins=target.logins if target else self.catalogue.distinct(rng, count),
            justification=rng.choice(JUSTIFICATIONS).format(team=team),
            corr_create=self._correlation(),
        )
        if target is not None:
            request.alias = target
            request.prev_name, request.prev_logins = target.name, list(target.logins)
            if kind == "change":
                if rng.random() < 0.5:
                    request.name = f"{team} {rng.randrange(1000)}"
                request.logins = self.catalogue.distinct(rng, count)
        self._plan_decision(request)
        return request

    def _free_alias(self, kind: str, created: int) -> AliasPlan | None:
        wanted = "disabled" if kind == "enable" else "active"
        for _ in range(8):
            if not self.aliases:
                return None
            alias = self.rng.choice(self.aliases)
            if alias.state == wanted and alias.busy_until < created:
                return alias
        return None

    def _plan_decision(self, request: Request) -> None:
        rng, status, alias = self.rng, request.status, request.alias
        if status == "pending":
            if alias is not None:
                alias.busy_until = self.end_us + 1
            return
        room = self.end_us - request.created_us
        request.decided_us = request.created_us + int(
            min(rng.expovariate(1 / (3 * HOUR)), room * 0.3)
        )
        request.corr_decide = self._correlation()
        request.completed_us = request.decided_us
        if status == "cancelled":
            request.decider = None
        elif status == "rejected":
            request.decider = rng.choice(self.users.admins)
            request.note = "Use the existing team alias instead."
        else:
            request.decider = rng.choice(self.users.admins)
            request.note = "" if rng.random() < 0.7 else "OK, ticket checked."
            # The worker's attempts fit in a window after the approval, inside the segment.
            request.completed_us += min(90 * SECOND, (self.end_us - request.decided_us) // 2)
        if status == "succeeded":
            alias = self._apply_to_inventory(request)
        if alias is not None:
            # Held until settled; a call left unknown holds it for good.
            alias.busy_until = self.end_us + 1 if status in LIVE else request.completed_us

    def _apply_to_inventory(self, request: Request) -> AliasPlan:
        alias = request.alias
        if alias is None:
            alias = AliasPlan(request.alias_id, request.name, list(request.logins))
            alias.created_us = request.completed_us
            self.aliases.append(alias)
            request.alias = alias
            before = {"state": None, "alias_name": None, "phone_logins": None}
        else:
            before = {
                "state": alias.state,
                "alias_name": alias.name,
                "phone_logins": list(alias.logins),
            }
        alias.state = "disabled" if request.kind == "disable" else "active"
        alias.name = request.name
        if request.kind != "disable":
            alias.logins = list(request.logins)
        alias.last_request = request
        alias.updated_us = request.completed_us
        after = {"state": alias.state, "alias_name": alias.name, "phone_logins": list(alias.logins)}
        request.inventory = {
            key: [before[key], after[key]] for key in after if before[key] != after[key]
        }
        return alias

    def _plan_calls(self) -> None:
        rng = self.rng
        called = [request for request in self.requests if request.status in CALLED]
        if not called:
            return
        mean_extra = max(0.0, self.calls_count / len(called) - 1)
        counts = [1 + int(rng.expovariate(1 / mean_extra)) if mean_extra else 1 for _ in called]
        difference = self.calls_count - sum(counts)
        while difference:
            index = rng.randrange(len(counts))
            if difference > 0:
                counts[index] += 1
                difference -= 1
            elif counts[index] > 1:
                counts[index] -= 1
                difference += 1
        for request, count in zip(called, counts, strict=True):
            step = (request.completed_us - request.decided_us) // (count + 2)
            request.calls = [request.decided_us + step * (attempt + 1) for attempt in range(count)]

    @staticmethod
    def _events_of(request: Request) -> int:
        if request.status == "pending":
            return 1
        if request.status in ("cancelled", "rejected"):
            return 2
        return 4 + len(request.calls)  # created, approved, started, the calls, the outcome

    # Events in time order -------------------------------------------------------------
    def _timeline(self) -> list[tuple]:
        """(microseconds, order, what, request or None, attempt) for every event."""
        entries = []
        for request in self.requests:
            entries.append((request.created_us, 0, "created", request, 0))
            if request.status == "cancelled":
                entries.append((request.decided_us, 1, "cancelled", request, 0))
            elif request.status == "rejected":
                entries.append((request.decided_us, 1, "rejected", request, 0))
            elif request.status in CALLED:
                entries.append((request.decided_us, 1, "approved", request, 0))
                entries.append((request.calls[0] - 10, 2, "started", request, 0))
                for attempt, ended in enumerate(request.calls, start=1):
                    entries.append((ended, 3, "call", request, attempt))
                entries.append((request.completed_us, 4, "outcome", request, 0))
        rng = self.rng
        for _ in range(self.background_count):
            what = _choice(rng, BACKGROUND_SHARES)
            entries.append((rng.randrange(self.start_us, self.end_us), 5, what, None, 0))
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        return entries

    def events(self, chain, ring):
        """Yield (event row, index rows, call row or None), hashed and MACed in sequence order.
        `chain`: aliases.audit.chain; `ring`: its key ring. The canonical form is built here
        from pre-serialised parts, three times faster than chain.canonical_bytes; a sample of
        events (the first thousand, then one in 500) is checked byte for byte against it."""
        cursor = self.cursor
        signing_id = ring.signing_id
        mac_key = hmac.new(ring._secrets[signing_id], digestmod=hashlib.sha256)
        index_logins = chain.index_logins
        for count, (us, _order, what, request, attempt) in enumerate(self._timeline()):
            sequence = cursor.sequence
            cursor.sequence += 1
            call_row = None
            if request is not None:
                if what == "created":
                    request.pk = cursor.request
                    cursor.request += 1
                fields, call_row = self._request_event(what, request, attempt, us, sequence)
            else:
                fields = self._background_event(what, sequence)
            occurred_at = hashed_time(us)
            extensions = fields["extensions"]
            extensions_json = "[" + ",".join(map(json_string, extensions)) + "]"
            changes_json = json.dumps(
                fields["changes"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
            canonical = CANONICAL % (
                json_value(fields["actor_id"]),
                json_string(fields["actor_role"]),
                json_string(fields["actor_username"]),
                json_value(fields["call_id"]),
                changes_json,
                json_string(fields["correlation_id"]),
                json_string(fields["event_type"]),
                extensions_json,
                occurred_at,
                json_string(fields["outcome"]),
                json_string(fields["reason"]),
                json_value(fields["request_id"]),
                sequence,
                json_string(fields["source_ip"]),
                json_string(fields["user_agent"]),
            )
            prev_hash = self.head_hash
            hashed = (canonical + prev_hash).encode()
            own_hash = hashlib.sha256(hashed).hexdigest()
            if count < 1000 or count % 500 == 0:
                self._check_canonical(chain, ring, fields, sequence, us, prev_hash, hashed)
            signer = mac_key.copy()
            signer.update(f"{signing_id}:{own_hash}".encode())
            row = (
                sequence,
                sequence,
                occurred_at,
                fields["event_type"],
                fields["actor_id"],
                fields["actor_username"],
                fields["actor_role"],
                fields["source_ip"],
                fields["user_agent"],
                fields["correlation_id"],
                fields["request_id"],
                fields["call_id"],
                extensions_json,
                fields["outcome"],
                fields["reason"],
                changes_json,
                prev_hash,
                own_hash,
                signing_id,
                signer.hexdigest(),
            )
            index = []
            for login in index_logins(extensions):
                index.append((cursor.index_row, sequence, login))
                cursor.index_row += 1
            self.index_rows += len(index)
            self.head_hash = own_hash
            yield row, index, call_row
        cursor.prev_hash = self.head_hash

    @staticmethod
    def _check_canonical(chain, ring, fields, sequence, us, prev_hash, hashed) -> None:
        """What record() would hash and sign for this event, from the app's own functions
        (values as _storable leaves them, the canonical form, the MAC)."""
        for key in ("extensions", "changes", "reason", "user_agent", "source_ip"):
            if chain._storable(fields[key]) != fields[key]:
                raise AssertionError(f"event #{sequence}: {key} is not as the database keeps it")
        event = SimpleNamespace(sequence=sequence, occurred_at=moment(us), **fields)
        expected = chain.canonical_bytes(chain.canonical_content(event), prev_hash)
        if expected != hashed:
            raise AssertionError(f"event #{sequence}: canonical form differs from chain.py's")

    def _actor(self, user, correlation: str) -> dict:
        pk, username, role = user
        return {
            "actor_id": pk,
            "actor_username": username,
            "actor_role": role,
            "source_ip": user_ip(pk),
            "user_agent": user_agent(pk),
            "correlation_id": correlation,
        }

    def _request_event(self, what: str, request: Request, attempt: int, us: int, sequence: int):
        base = {
            "request_id": request.pk,
            "call_id": None,
            "extensions": request.touched(),
            "reason": "",
        }
        call_row = None
        if what == "created":
            base |= self._actor(request.requester, request.corr_create)
            base |= {
                "event_type": "request.created",
                "outcome": "pending",
                "changes": {
                    "status": [None, "pending"],
                    "kind": request.kind,
                    "server": SERVER,
                    "alias_id": [None, request.alias_id],
                    "alias_name": [request.prev_name or None, request.name],
                    "phone_logins": [request.prev_logins or None, list(request.logins)],
                    "justification": [None, request.justification],
                },
            }
        elif what == "cancelled":
            base |= self._actor(request.requester, request.corr_decide)
            base |= {
                "event_type": "request.cancelled",
                "outcome": "cancelled",
                "changes": {"status": ["pending", "cancelled"]},
            }
        elif what in ("rejected", "approved"):
            base |= self._actor(request.decider, request.corr_decide)
            to = "rejected" if what == "rejected" else "queued"
            changes = {"status": ["pending", to], "decided_by": [None, request.decider[1]]}
            if what == "approved":
                changes |= {
                    "preflight": self._preflight(request),
                    "preflight_shown_at": moment(request.decided_us - 40 * SECOND).isoformat(),
                }
            base |= {
                "event_type": f"request.{what}",
                "outcome": to,
                "reason": request.note,
                "changes": changes,
            }
        elif what == "started":
            base |= self._actor(request.decider, request.corr_decide)
            base |= {
                "event_type": "request.call_started",
                "outcome": "calling",
                "changes": {"status": ["queued", "calling"]},
            }
        elif what == "call":
            base |= self._actor(request.decider, request.corr_decide)
            call_row, changes, result, reason = self._call(request, attempt, us)
            base |= {
                "event_type": "vicidial.call",
                "call_id": call_row[0],
                "outcome": result,
                "reason": reason,
                "changes": changes,
            }
        else:  # the outcome of the last call
            base |= self._actor(request.decider, request.corr_decide)
            changes = {"status": ["calling", request.status]}
            reason = self._last_reason(request)
            if request.status == "succeeded":
                alias = request.alias
                if not alias.pk:
                    alias.pk = self.cursor.alias
                    self.cursor.alias += 1
                changes["inventory"] = {"alias": alias.pk, **request.inventory}
            base |= {
                "event_type": f"request.{request.status}",
                "outcome": request.status,
                "reason": reason,
                "changes": changes,
            }
        return base, call_row

    def _preflight(self, request: Request) -> list[dict]:
        checks = []
        if request.kind != "disable":
            for login in request.logins:
                checks.append(
                    {
                        "check": f"phone:{login}",
                        "ok": True,
                        "detail": f"SIP phone, extension {login}",
                    }
                )
        checks.append(
            {
                "check": "circuit",
                "ok": True,
                "detail": "VICIdial has not refused the portal's login.",
            }
        )
        function, params = self._operation(request)
        fields = [
            ["function", function],
            ["user", API_USER],
            ["pass", PASS_MASK],
            *params,
            ["source", f"portal{request.pk}"],
        ]
        checks.append(
            {"check": "parameters", "ok": True, "detail": f"POST {API_URL}", "fields": fields}
        )
        return checks

    @staticmethod
    def _operation(request: Request) -> tuple[str, list[list[str]]]:
        logins = ",".join(request.logins)
        if request.kind in ("add", "enable"):
            return "add_phone_alias", [
                ["alias_id", request.alias_id],
                ["alias_name", request.name],
                ["phone_logins", logins],
            ]
        if request.kind == "disable":
            return "update_phone_alias", [["alias_id", request.alias_id], ["delete_alias", "Y"]]
        params = [["alias_id", request.alias_id]]
        if request.name != request.prev_name:
            params.append(["alias_name", request.name])
        params.append(["phone_logins", logins])
        return "update_phone_alias", params

    @staticmethod
    def _answer(request: Request) -> tuple[str, str, str]:
        """(result, keyword, body) of the request's last call."""
        function, _ = Segment._operation(request)
        if request.status == "needs_verification":
            return "unknown", "", ""
        if request.status == "failed":
            body = f"ERROR: {function} PHONE DOES NOT EXIST: |{API_USER}|{request.logins[0]}\n"
            return "rejected", "ERROR", body
        if request.kind == "disable":
            return (
                "succeeded",
                "SUCCESS",
                (
                    f"SUCCESS: {function} PHONE ALIAS HAS BEEN DELETED - "
                    f"{API_USER}|{request.alias_id}\n"
                ),
            )
        done = "ADDED" if function == "add_phone_alias" else "UPDATED"
        logins = ",".join(request.logins)
        return (
            "succeeded",
            "SUCCESS",
            (
                f"SUCCESS: {function} PHONE ALIAS HAS BEEN {done} - "
                f"{API_USER}|{request.alias_id}|{request.name}|{logins}\n"
            ),
        )

    def _last_reason(self, request: Request) -> str:
        result, _, body = self._answer(request)
        return TIMEOUT_ERROR if result == "unknown" else body.strip()

    def _call(self, request: Request, attempt: int, ended_us: int):
        rng = self.rng
        call_id = self.cursor.call
        self.cursor.call += 1
        request.call_ids.append(call_id)
        function, params = self._operation(request)
        sent = [
            ["function", function],
            ["user", API_USER],
            ["pass", PASS_MASK],
            *params,
            ["source", f"portal{request.pk}"],
        ]
        if attempt < len(request.calls):
            result, keyword, body, status = "not_sent", "UNRECOGNISED", "", None
            error, duration = NOT_SENT_ERROR, rng.randrange(2, 40)
        else:
            result, keyword, body = self._answer(request)
            keyword = keyword or "UNRECOGNISED"
            status = None if result == "unknown" else 200
            error = TIMEOUT_ERROR if result == "unknown" else ""
            duration = 10_000 if result == "unknown" else rng.randrange(4, 60)
        reason = error or body.strip()
        size = len(body.encode()) if status else None
        parsed_reason = body.strip().split(" ", 1)[1] if body else ""
        data = body.strip().split(" - ", 1)[1].split("|") if " - " in body else []
        started = moment(ended_us - duration * 1000)
        call_row = (
            call_id,
            request.pk,
            request.decider[0],
            SERVER,
            function,
            "POST",
            API_URL,
            json.dumps(sent),
            f"portal{request.pk}",
            attempt,
            result,
            status,
            body,
            size,
            False,
            keyword,
            parsed_reason,
            json.dumps(data),
            error,
            duration,
            started,
            moment(ended_us),
        )
        changes = {
            "server": SERVER,
            "function": function,
            "attempt": attempt,
            "sent_params": sent,
            "http_status": status,
            "duration_ms": duration,
            "response_body": body,
            "response_bytes": size,
            "response_truncated": False,
        }
        return call_row, changes, result, reason

    def _background_event(self, what: str, sequence: int) -> dict:
        rng = self.rng
        base = {
            "request_id": None,
            "call_id": None,
            "extensions": [],
            "outcome": "",
            "reason": "",
            "changes": {},
            "correlation_id": self._correlation(),
        }
        if what in ("auth.login", "auth.logout"):
            user = rng.choice(self.users.everyone)
            return base | self._actor(user, base["correlation_id"]) | {"event_type": what}
        if what == "auth.login_failed":
            name = rng.choice(self.users.everyone)[1] if rng.random() < 0.8 else "admin"
            return base | {
                "event_type": what,
                "actor_id": None,
                "actor_username": name,
                "actor_role": "",
                "source_ip": f"192.0.2.{rng.randrange(1, 255)}",
                "user_agent": USER_AGENTS[0],
                "outcome": "failed",
                "reason": "wrong username or password",
            }
        if what == "access.denied":
            user = rng.choice(self.users.supervisors)
            return (
                base
                | self._actor(user, base["correlation_id"])
                | {
                    "event_type": what,
                    "outcome": "denied",
                    "reason": "GET /audit/: only auditors and admins may read the audit trail",
                }
            )
        user = rng.choice(self.users.auditors + self.users.admins)
        base |= self._actor(user, base["correlation_id"])
        shown = [sequence - 1, max(1, sequence - 50)]
        if what == "view.extension":
            login = self.catalogue.logins[self.catalogue.pick(rng)]
            return base | {
                "event_type": "audit.viewed",
                "extensions": [login],
                "reason": "extension history",
                "changes": {"extension": login, "shown": shown},
            }
        if what == "view.trail":
            return base | {
                "event_type": "audit.viewed",
                "reason": "audit trail",
                "changes": {"filters": {}, "shown": shown},
            }
        login = self.catalogue.logins[self.catalogue.pick(rng)]
        return base | {
            "event_type": "audit.exported",
            "extensions": [login],
            "reason": "csv export",
            "changes": {"filters": {"extension": login}, "format": "csv"},
        }

    # The mutable tables, once the events gave every row its pk ----------------------------
    def request_rows(self):
        for request in self.requests:
            alias = request.alias
            alias_pk = alias.pk if alias is not None and alias.pk else None
            if request.kind == "add" and request.status != "succeeded":
                alias_pk = None
            decider = request.decider[0] if request.decider else None
            queued_by = decider if request.status in CALLED else None
            outcome = self._last_reason(request) if request.status in CALLED else ""
            final = request.status not in LIVE
            token = uuid.UUID(int=self.rng.getrandbits(128), version=4)
            updated = request.completed_us or request.decided_us or request.created_us
            yield (
                request.pk,
                SERVER,
                request.kind,
                alias_pk,
                request.alias_id,
                request.name,
                request.prev_name,
                json.dumps(request.prev_logins),
                request.justification,
                request.status,
                request.requester[0],
                decider,
                request.note,
                queued_by,
                None,
                None,
                outcome,
                token,
                moment(request.created_us),
                moment(request.decided_us) if decider else None,
                moment(request.completed_us) if final and request.completed_us else None,
                moment(updated),
            )

    def requested_login_rows(self):
        extension_pk = {login: pk for pk, login in enumerate(self.catalogue.logins, start=1)}
        for request in self.requests:
            for position, login in enumerate(request.logins):
                yield (
                    self.cursor.requested_login,
                    request.pk,
                    login,
                    position,
                    extension_pk.get(login),
                )
                self.cursor.requested_login += 1

    def alias_rows(self):
        for alias in self.aliases:
            if alias.pk:
                yield (
                    alias.pk,
                    SERVER,
                    alias.alias_id,
                    alias.name,
                    alias.state,
                    "portal",
                    alias.last_request.pk,
                    moment(alias.created_us),
                    moment(alias.updated_us),
                )

    def alias_login_rows(self):
        for alias in self.aliases:
            if alias.pk:
                for position, login in enumerate(alias.logins):
                    yield (self.cursor.alias_login, alias.pk, login, position)
                    self.cursor.alias_login += 1
