"""Bulk requests: a CSV file whose rows become requests, one upload batch.

Every row is held to the rules of the form a person would fill in for it (the add form, or
the inventory's change, disable and enable forms) and then made by the same submit service,
so an uploaded request is indistinguishable from a typed one, four-eyes and all.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..audit import AuditContext, EventType, record
from ..errors import DuplicateAliasId, InvalidTransition, PortalError
from ..forms import AliasRequestForm, SubmissionForm
from ..forms_inventory import AliasChangeForm, AliasDisableForm, AliasEnableForm
from ..models import Alias, AliasRequest, RequestBatch
from ..predicates import may_submit
from ..validators import parse_phone_logins, same_logins
from ..vicidial.servers import DEFAULT_SERVER, has_several_servers, server_label, server_names
from .permissions import require
from .submissions import (
    alias_change_submit,
    alias_disable_submit,
    alias_enable_submit,
    alias_request_submit,
)
from .upload_csv import (
    COLUMNS,
    EXTRA,
    CsvRow,
    FileRefused,
    RowError,
    check_size,
    decode,
    file_sha256,
    read_rows,
)

Kind = AliasRequest.Kind
KINDS = ", ".join(Kind.values[:-1]) + f" or {Kind.values[-1]}"


@dataclass
class UploadOutcome:
    """What an upload did. `batch` is None when nothing was created."""

    filename: str
    all_or_nothing: bool
    row_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Why the file as a whole was not read (size, encoding, header): nothing was created.
    refused: str = ""
    batch: RequestBatch | None = None
    created: int = 0
    # The same file, uploaded before: nothing new was created.
    earlier_batch: RequestBatch | None = None

    @property
    def rows_with_errors(self) -> int:
        return len({error.row for error in self.errors})

    @property
    def summary(self) -> str:
        """What happened and what to do next, in one sentence or two."""
        if self.earlier_batch is not None:
            earlier = self.earlier_batch
            return (
                f"This file was already uploaded, as batch #{earlier.pk}; nothing new was "
                "created. To ask for more, upload a file with only the new rows."
            )
        if self.refused:
            return f"Nothing was created: {self.refused}"
        bad = self.rows_with_errors
        if self.batch is None:
            problems = f"{_count(bad, 'row')} {'has' if bad == 1 else 'have'} problems"
            if bad < self.row_count:
                return (
                    f"Nothing was created: {problems} (of {self.row_count}), and all or "
                    "nothing was chosen. Fix the rows listed below and upload the file again."
                )
            return (
                f"Nothing was created: {problems}. Fix the rows listed below and upload the "
                "file again."
            )
        created = (
            f"{_count(self.created, 'request')} created as batch #{self.batch.pk}, waiting for "
            "an admin's approval"
        )
        if not bad:
            return f"{created}."
        return (
            f"{created}; {_count(bad, 'row')} {'was' if bad == 1 else 'were'} skipped. Fix "
            "the rows listed below in a new file with only them, and upload it."
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class PlannedRow:
    """A row that passed its form: the submit service to call, and what to call it with."""

    number: int
    submit: Callable[..., AliasRequest]
    values: dict[str, object]


def _form_errors(number: int, form: SubmissionForm) -> list[RowError]:
    return [
        RowError(number, name if name in COLUMNS else "", message)
        for name, messages in form.errors.items()
        for message in messages
    ]


def _form_data(values: dict[str, str], *names: str, **defaults: str) -> dict[str, str]:
    # A fresh token per row: the forms insist on one, and the batch's file digest is what
    # stops a second submission of the same rows.
    data = {"submission_token": str(uuid.uuid4())}
    for name in names:
        data[name] = values.get(name, "") or defaults.get(name, "")
    return data


def _planned(
    row: CsvRow, form: SubmissionForm, submit: Callable[..., AliasRequest], **extra: object
) -> tuple[PlannedRow | None, list[RowError]]:
    if not form.is_valid():
        return None, _form_errors(row.number, form)
    values = {**form.cleaned_data, **extra}
    values.pop("submission_token")
    return PlannedRow(row.number, submit, values), []


def _plan_add(row: CsvRow, server: str) -> tuple[PlannedRow | None, list[RowError]]:
    names = ("alias_id", "alias_name", "phone_logins", "justification")
    data = _form_data(row.values, *names)
    if has_several_servers():
        data["server"] = server
    planned, errors = _planned(row, AliasRequestForm(data), alias_request_submit)
    if planned is not None:
        planned.values["server"] = server
    return planned, errors


def _unchanged_cells(row: CsvRow, alias: Alias) -> list[RowError]:
    """A disable keeps the alias as it is: a name or phones other than its own in the row
    would be a change nobody asked VICIdial for."""
    errors = []
    name = row.values.get("alias_name", "")
    if name and name != alias.alias_name:
        errors.append(
            RowError(
                row.number,
                "alias_name",
                f"A disable keeps the alias's name ({alias.alias_name!r}): leave alias_name "
                "empty, or ask for a change in a row of its own.",
            )
        )
    logins = row.values.get("phone_logins", "")
    if logins:
        try:
            same = same_logins(parse_phone_logins(logins), alias.logins_in_order())
        except ValidationError:
            same = False
        if not same:
            errors.append(
                RowError(
                    row.number,
                    "phone_logins",
                    "A disable keeps the alias's phone logins: leave phone_logins empty.",
                )
            )
    return errors


def _plan_for_alias(row: CsvRow, kind: str, alias: Alias) -> tuple[PlannedRow | None, list]:
    # As on the alias's own pages, a change or an enable starts from what the inventory
    # holds: an empty name or phone logins cell keeps it.
    held = {"alias_name": alias.alias_name, "phone_logins": ", ".join(alias.logins_in_order())}
    if kind == Kind.CHANGE:
        data = _form_data(row.values, "alias_name", "phone_logins", "justification", **held)
        return _planned(row, AliasChangeForm(data), alias_change_submit, alias_pk=alias.pk)
    if kind == Kind.ENABLE:
        data = _form_data(row.values, "alias_name", "phone_logins", "justification", **held)
        return _planned(row, AliasEnableForm(data), alias_enable_submit, alias_pk=alias.pk)
    planned, errors = _planned(
        row,
        AliasDisableForm(_form_data(row.values, "justification")),
        alias_disable_submit,
        alias_pk=alias.pk,
    )
    errors = _unchanged_cells(row, alias) + errors
    return (planned if not errors else None), errors


class _Inventory:
    """The inventory's rows the file names, fetched at once, by server and lower-cased ID."""

    def __init__(self, rows: Iterable[CsvRow]) -> None:
        ids = {row.values.get("alias_id", "").strip().lower() for row in rows} - {""}
        # No alias ID holds NUL, and PostgreSQL refuses it in a query: such a cell finds none.
        ids = {alias_id for alias_id in ids if "\x00" not in alias_id}
        aliases = Alias.objects.filter(alias_id__lower__in=ids).prefetch_related("logins")
        self._by_key = {(alias.server, alias.alias_id.lower()): alias for alias in aliases}

    def get(self, server: str, alias_id: str) -> Alias | None:
        return self._by_key.get((server, alias_id.lower()))


def _row_server(row: CsvRow) -> tuple[str, list[RowError]]:
    given = row.values.get("server", "").strip()
    server = given.lower() or DEFAULT_SERVER
    if server in server_names():
        return server, []
    known = ", ".join(server_names())
    problem = (
        f"{given!r} is not one of the portal's VICIdial servers ({known}). Leave it empty "
        f"for the {DEFAULT_SERVER} server."
    )
    return server, [RowError(row.number, "server", problem)]


def _plan_row(row: CsvRow, inventory: _Inventory) -> tuple[PlannedRow | None, list[RowError]]:
    errors = []
    if EXTRA in row.values:
        problem = f"{row.values[EXTRA]} has a value but no column name in the header row."
        errors.append(RowError(row.number, "", problem))
    server, server_errors = _row_server(row)
    errors += server_errors
    kind = row.values.get("kind", "").strip().lower()
    if kind not in Kind.values:
        given = f"{row.values['kind']!r} is not" if kind else "The kind is empty; it must be"
        errors.append(RowError(row.number, "kind", f"{given} a kind of request: use {KINDS}."))
        return None, errors
    if server_errors:
        return None, errors
    if kind == Kind.ADD:
        planned, form_errors = _plan_add(row, server)
        return (None if errors else planned), errors + form_errors
    alias_id = row.values.get("alias_id", "").strip()
    alias = inventory.get(server, alias_id) if alias_id else None
    if alias is None:
        problem = (
            f"The inventory holds no alias {alias_id!r} on {server_label(server)}, so it "
            f"cannot be {'changed' if kind == Kind.CHANGE else kind + 'd'}. Check the ID and "
            "the server, or use kind add to ask for a new alias."
            if alias_id
            else f"Say which alias to {kind}: alias_id is empty."
        )
        return None, [*errors, RowError(row.number, "alias_id", problem)]
    planned, form_errors = _plan_for_alias(row, kind, alias)
    return (None if errors else planned), errors + form_errors


def _duplicate_errors(rows: list[CsvRow]) -> list[RowError]:
    """A second row for an alias the file already names: one request per alias at a time."""
    first_row_of: dict[tuple[str, str], int] = {}
    errors = []
    for row in rows:
        alias_id = row.values.get("alias_id", "").strip()
        if not alias_id:
            continue
        server = row.values.get("server", "").strip().lower() or DEFAULT_SERVER
        earlier = first_row_of.setdefault((server, alias_id.lower()), row.number)
        if earlier != row.number:
            problem = (
                f"Alias {alias_id!r} is already on row {earlier}: only one request per alias "
                "can be open at a time (VICIdial ignores letter case). Put what both rows ask "
                "for in one row."
            )
            errors.append(RowError(row.number, "alias_id", problem))
    return errors


def _plan(rows: list[CsvRow]) -> tuple[list[PlannedRow], list[RowError]]:
    inventory = _Inventory(rows)
    errors = _duplicate_errors(rows)
    duplicates = {error.row for error in errors}
    planned = []
    for row in rows:
        row_plan, row_errors = _plan_row(row, inventory)
        errors += row_errors
        if row_plan is not None and row.number not in duplicates:
            planned.append(row_plan)
    return planned, sorted(errors, key=lambda error: error.row)


def _refusal(error: PortalError | ValidationError) -> tuple[str, str]:
    """The column a service's refusal is about, and its message."""
    if isinstance(error, ValidationError):
        column = {"unknown_server": "server", "no_change": "alias_name"}.get(
            getattr(error, "code", None) or "", ""
        )
        return column, " ".join(error.messages)
    if isinstance(error, DuplicateAliasId):
        return "alias_id", str(error)
    if isinstance(error, InvalidTransition):
        return "kind", str(error)
    return "", str(error)


def _submit_rows(
    planned: list[PlannedRow],
    *,
    requester: AbstractBaseUser,
    batch: RequestBatch,
    context: AuditContext,
) -> tuple[list[int], list[RowError]]:
    created, errors = [], []
    for row in planned:
        try:
            # A savepoint each: a refused row leaves the others as they are.
            with transaction.atomic():
                alias_request = row.submit(requester=requester, context=context, **row.values)
        except (PortalError, ValidationError) as error:
            errors.append(RowError(row.number, *_refusal(error)))
        else:
            created.append(alias_request.pk)
    AliasRequest.objects.filter(pk__in=created).update(upload_batch=batch)
    return created, errors


class _AlreadyUploaded(Exception):
    pass


class _NothingKept(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__()
        self.errors = errors


def _earlier_upload(sha256: str) -> RequestBatch | None:
    return (
        RequestBatch.objects.select_related("created_by")
        .filter(kind=RequestBatch.Kind.UPLOAD, file_sha256=sha256)
        .first()
    )


def _batch_create(**values: object) -> RequestBatch:
    try:
        with transaction.atomic():
            return RequestBatch.objects.create(kind=RequestBatch.Kind.UPLOAD, **values)
    except IntegrityError:
        # The same file, uploaded at the same moment by someone else, got there first.
        raise _AlreadyUploaded from None


def _storable_filename(filename: str) -> str:
    return filename.replace("\x00", "")[:255]


def requests_upload(
    *,
    requester: AbstractBaseUser,
    filename: str,
    content: bytes,
    all_or_nothing: bool,
    context: AuditContext | None = None,
) -> UploadOutcome:
    """Make a request of each valid row of the CSV `content`, as one upload batch.

    With `all_or_nothing`, one problem anywhere (the forms' rules, or a service's refusal
    such as an alias that already has a live request) means nothing is created. Otherwise
    the valid rows are created and the others listed in the batch's row_errors.
    """
    require(requester, may_submit, "request phone aliases")
    context = context or AuditContext()
    filename = _storable_filename(filename)
    outcome = UploadOutcome(filename=filename, all_or_nothing=all_or_nothing)
    sha256 = file_sha256(content)
    try:
        check_size(content)
        outcome.earlier_batch = _earlier_upload(sha256)
        if outcome.earlier_batch is not None:
            return outcome
        rows = read_rows(decode(content))
    except FileRefused as refused:
        outcome.refused, outcome.errors = refused.reason, refused.errors
        return outcome
    outcome.row_count = len(rows)
    planned, outcome.errors = _plan(rows)
    if not planned:
        return outcome
    try:
        with transaction.atomic():
            batch = _batch_create(
                created_by=requester,
                filename=filename,
                file_sha256=sha256,
                all_or_nothing=all_or_nothing,
                row_count=len(rows),
            )
            created, refusals = _submit_rows(
                planned, requester=requester, batch=batch, context=context
            )
            errors = sorted(outcome.errors + refusals, key=lambda error: error.row)
            # All or nothing still makes the valid rows, then undoes them: the report then
            # holds the services' refusals too, not only the forms' problems.
            if not created or (all_or_nothing and errors):
                raise _NothingKept(errors)
            batch.row_errors = [error.as_json() for error in errors]
            batch.save(update_fields=["row_errors"])
            record(
                event_type=EventType.BATCH_UPLOADED,
                actor=requester,
                context=context,
                outcome="uploaded",
                reason=f"{len(created)} of {len(rows)} rows of {filename!r} became requests",
                changes={
                    "batch": batch.pk,
                    "filename": filename,
                    "file_sha256": sha256,
                    "all_or_nothing": all_or_nothing,
                    "rows": len(rows),
                    "created": len(created),
                    "rows_skipped": len({error.row for error in errors}),
                    "requests": created,
                },
            )
    except _NothingKept as nothing:
        outcome.errors = nothing.errors
        return outcome
    except _AlreadyUploaded:
        outcome.earlier_batch = _earlier_upload(sha256)
        if outcome.earlier_batch is None:
            outcome.refused = "the same file was being uploaded at this moment. Upload it again."
        return outcome
    outcome.batch, outcome.created, outcome.errors = batch, len(created), errors
    return outcome
