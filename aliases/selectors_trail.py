"""Pages and export chunks of the audit trail, each read through an index that serves it.

Event ids ascend with sequence numbers: the one writer (aliases.audit.chain.record) inserts
every event while it holds the chain head lock, so no event can take an id between two older
ones. The per-extension index, keyed (LOWER(login), event_id), therefore lists an extension's
events in trail order, and a page or an export chunk of the busiest extension reads its own
rows and nothing else. (Through the events, PostgreSQL either walks the whole trail's sequence
index probing each event, or fetches every event of the extension to sort them.)
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import F, Func, QuerySet, Subquery, TextField
from django.db.models.functions import Cast

from .audit import CONTENT_KEYS, LINK_KEYS
from .audit.chain import HASHED_TIME_FORMAT
from .models import AuditEvent, AuditEventExtension
from .selectors import audit_events_filtered

EXPORT_CHUNK_SIZE = 2000


@dataclass(frozen=True)
class EventPage:
    """A page of events, newest first, with the sequences its newer/older links start from.

    Keyset pagination: each look at the trail adds an event at its head, which would shift
    every offset-numbered page by one; "before #n" always means the same rows. No COUNT.
    """

    events: list[AuditEvent]
    newer_than: int | None = None  # link ?after=<this> when newer events exist
    older_than: int | None = None  # link ?before=<this> when older events exist

    @property
    def shown(self) -> list[int]:
        return [self.events[0].sequence, self.events[-1].sequence] if self.events else []


# What a page's rows show (aliases.event_rows): not the hashes, the changes (JSON to decode)
# nor the user agent, and of the call only its answer (not what was sent, nor the parsed data).
EVENT_ROW_FIELDS = (
    *("sequence", "occurred_at", "event_type", "actor_username", "actor_role", "source_ip"),
    *("correlation_id", "extensions", "outcome", "reason", "request", "request__alias_id"),
    *("call", "call__response_body", "call__response_bytes", "call__response_truncated"),
)


def _shown_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("request", "call").only(*EVENT_ROW_FIELDS)


def audit_events_page(
    events: QuerySet[AuditEvent],
    *,
    size: int,
    before: int | None = None,
    after: int | None = None,
    key: str = "sequence",
) -> EventPage:
    """A page of any filtered trail, by sequence; `after=0` is the oldest page. `key` names
    what the queries compare and order by: the sequence itself, or an alias of it that keeps
    PostgreSQL off the sequence index (_by_date_first)."""

    def sequences(window: QuerySet[AuditEvent], order: str) -> list[int]:
        return list(window.order_by(order).values_list("sequence", flat=True)[: size + 1])

    if after is not None:
        found = sequences(events.filter(**{f"{key}__gt": after}), key)
        has_newer = len(found) > size
        found = found[:size][::-1]
        has_older = bool(found) and events.filter(**{f"{key}__lt": found[-1]}).exists()
    else:
        window = events if before is None else events.filter(**{f"{key}__lt": before})
        found = sequences(window, f"-{key}")
        has_older = len(found) > size
        found = found[:size]
        has_newer = (
            bool(found)
            and before is not None
            and events.filter(**{f"{key}__gt": found[0]}).exists()
        )
    rows = _shown_events().filter(sequence__in=found)
    return _page(list(rows.order_by("-sequence")) if found else [], has_newer, has_older)


DATE_FIRST_MAX = 50_000


def _few_in_range(filters: dict[str, Any]) -> bool:
    """Whether the filters' days hold at most DATE_FIRST_MAX events, counted index-only and
    no further. A range that reaches today (no `until`) or holds more events than that is
    better walked from the head of the sequence index: matching rows come soon."""
    days = {name: filters[name] for name in ("since", "until") if name in filters}
    in_range = audit_events_filtered(**days).select_related(None).order_by().values("sequence")
    return in_range[: DATE_FIRST_MAX + 1].count() <= DATE_FIRST_MAX


def _by_date_first(events: QuerySet[AuditEvent]) -> tuple[QuerySet[AuditEvent], str]:
    """Events in a date range are contiguous in the sequence, so PostgreSQL, believing them
    spread evenly, walks the sequence index from the head and filters, and a week a month
    back reads a million events (3.4 s at 2 million). Comparing sequence + 0 instead leaves
    it the (occurred_at, sequence) index: the range's own entries, index-only, then a top-N
    sort; its cost follows the range (a week: 40,000 entries, ~25 ms), not the trail."""
    return events.alias(trail_order=F("sequence") + 0), "trail_order"


def _page(rows: list[AuditEvent], has_newer: bool, has_older: bool) -> EventPage:
    return EventPage(
        events=rows,
        newer_than=rows[0].sequence if has_newer else None,
        older_than=rows[-1].sequence if has_older else None,
    )


def _index_of(login: str) -> QuerySet[AuditEventExtension]:
    return AuditEventExtension.objects.filter(login__lower=login.strip().lower())


def _id_at_or_below(sequence: int) -> Subquery:
    """The id of the newest event before `sequence` (NULL, matching nothing, if none):
    a page link names a sequence, the index holds ids."""
    below = AuditEvent.objects.filter(sequence__lt=sequence).order_by("-sequence")
    return Subquery(below.values("pk")[:1])


def _id_at_or_above(sequence: int) -> Subquery:
    above = AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence")
    return Subquery(above.values("pk")[:1])


def _events_by_id(ids: list[int]) -> list[AuditEvent]:
    if not ids:
        return []
    return list(_shown_events().filter(pk__in=ids).order_by("-sequence"))


def extension_events_page(
    *, login: str, size: int, before: int | None = None, after: int | None = None
) -> EventPage:
    """The same page as audit_events_page(audit_events_filtered(extension=login), ...), read
    through the per-extension index: one page's rows whatever the extension's size or the
    page's depth."""
    index = _index_of(login)
    if after is not None:
        newer = index.filter(event_id__gte=_id_at_or_above(after)) if after else index
        ids = list(newer.order_by("event_id").values_list("event_id", flat=True)[: size + 1])
        has_newer = len(ids) > size
        ids = ids[:size]
        has_older = bool(ids) and index.filter(event_id__lt=ids[0]).exists()
    else:
        older = index if before is None else index.filter(event_id__lte=_id_at_or_below(before))
        ids = list(older.order_by("-event_id").values_list("event_id", flat=True)[: size + 1])
        has_older = len(ids) > size
        ids = ids[:size]
        has_newer = bool(ids) and before is not None and index.filter(event_id__gt=ids[0]).exists()
    return _page(_events_by_id(ids), has_newer, has_older)


def audit_trail_page(
    *, filters: dict[str, Any], size: int, before: int | None = None, after: int | None = None
) -> EventPage:
    """A page of the trail under `filters` (AuditFilterForm.active_filters)."""
    if set(filters) == {"extension"}:
        return extension_events_page(
            login=filters["extension"], size=size, before=before, after=after
        )
    events, key = audit_events_filtered(**filters), "sequence"
    if "until" in filters and _few_in_range(filters):
        events, key = _by_date_first(events)
    return audit_events_page(events, size=size, before=before, after=after, key=key)


class ExportOutOfOrder(RuntimeError):
    """The index gave an event older than one already exported: ids no longer follow
    sequences (events written by something else than the audit writer)."""


ExportRow = tuple  # an event's exported fields in EXPORTED_FIELDS order (audit.export_rows)


def _in_trail_order(chunks: Iterator[list[ExportRow]]) -> Iterator[list[ExportRow]]:
    """The chunks, each checked before it goes out: sequences ascend across them all."""
    last = 0
    for chunk in chunks:
        for row in chunk:
            # Better a broken download than an export whose order verify_export would refuse.
            if row[SEQUENCE] <= last:
                raise ExportOutOfOrder(f"event #{row[SEQUENCE]} came after #{last}")
            last = row[SEQUENCE]
        yield chunk


# What export_line reads of an event, as tuples: building 18,000 models, or objects, cost
# more than reading them. The JSON columns come as their text, parsed once per distinct text
# by the encoder (extensions repeat from event to event), not by the ORM for every row; on
# PostgreSQL occurred_at comes already written as hashed_time writes it.
EXPORTED_FIELDS = (*CONTENT_KEYS, *LINK_KEYS)
SEQUENCE = EXPORTED_FIELDS.index("sequence")
AS_TEXT = {f"{name}_text": Cast(name, TextField()) for name in ("extensions", "changes")}


class HashedTimeText(Func):
    """occurred_at as chain.hashed_time writes it, made by PostgreSQL: no datetime objects
    on the way (tests/test_export_rows.py pins it to hashed_time)."""

    template = f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{HASHED_TIME_FORMAT}')"
    output_field = TextField()


def _as_text(vendor: str) -> dict[str, Func]:
    if vendor == "postgresql":
        return {**AS_TEXT, "occurred_at_text": HashedTimeText("occurred_at")}
    return AS_TEXT  # occurred_at as a datetime: the encoder formats it


def _chunks_by_sequence(
    events: QuerySet[AuditEvent], up_to: int, size: int
) -> Iterator[list[ExportRow]]:
    after = 0
    while True:
        chunk = list(events.filter(sequence__gt=after, sequence__lte=up_to)[:size])
        if not chunk:
            return
        yield chunk
        after = chunk[-1][SEQUENCE]


def _chunks_by_index(
    events: QuerySet[AuditEvent], login: str, up_to: int, size: int
) -> Iterator[list[ExportRow]]:
    """Each chunk: the events of the index's next `size` ids, joined to them in one query
    (no list of ids sent back), and the size-th id (read index-only) to go on from."""
    index = _index_of(login).order_by("event_id").values_list("event_id", flat=True)
    after_id = 0
    while True:
        rest = index.filter(event_id__gt=after_id)
        last_id = next(iter(rest[size - 1 : size]), None)
        # The ids as a LIMIT subquery, which PostgreSQL reads from the per-extension index
        # before it joins. Given as a range (event_id <= last_id) it took the range for a
        # narrow one and scanned the event_id index over every extension's rows in it,
        # filtering them by login: 70-100 ms a chunk of the busiest extension, 15-20 now.
        yield list(events.filter(pk__in=rest[:size], sequence__lte=up_to))
        if last_id is None:
            return
        after_id = last_id


def audit_events_for_export(
    *, filters: dict[str, Any], up_to: int, chunk_size: int = EXPORT_CHUNK_SIZE
) -> Iterator[list[ExportRow]]:
    """The events under `filters` up to sequence `up_to`, oldest first, in keyset chunks of
    rows (ExportRow): flat memory, no server-side cursor held open for the whole download,
    and a plan per chunk that reads only that chunk. With an extension, the per-extension
    index drives. A chunk may be empty."""
    others = {name: value for name, value in filters.items() if name != "extension"}
    # The export needs ids, not the request and call rows select_related would join.
    events = audit_events_filtered(**others).select_related(None).order_by("sequence")
    as_text = _as_text(connections[events.db].vendor)
    selected = [f"{name}_text" if f"{name}_text" in as_text else name for name in EXPORTED_FIELDS]
    events = events.annotate(**as_text).values_list(*selected)
    if "extension" in filters:
        chunks = _chunks_by_index(events, filters["extension"], up_to, chunk_size)
    else:
        chunks = _chunks_by_sequence(events, up_to, chunk_size)
    return _in_trail_order(chunks)
