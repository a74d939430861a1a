"""A rate limit per VICIdial server (VICIDIAL_CALLS_PER_SECOND), shared by every worker on
every machine through one row per server: each call reserves the next start time in turn,
so a batch of 200 approvals reaches VICIdial evenly spaced instead of all at once."""

from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Greatest
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from ..models import VicidialCallPace
from ..vicidial.servers import raw_server_settings

# A worker sleeps at most this long for its turn; beyond it, the call goes back to the queue
# for later and the worker takes other work.
LONGEST_WAIT_SECONDS = 2.0


def calls_per_second(server: str) -> float:
    return float(raw_server_settings(server)["CALLS_PER_SECOND"] or 0)


def pace_reserve(server: str) -> float | None:
    """Reserve the next start time for a call to `server`: the seconds to wait until then,
    or None (nothing reserved) if that is further off than LONGEST_WAIT_SECONDS. Inside a
    transaction (the worker's, before a call) the reservation commits with it."""
    rate = calls_per_second(server)
    if rate <= 0:
        return 0.0
    step = timedelta(seconds=1 / rate)
    with transaction.atomic(savepoint=False):
        now = timezone.now()
        moved = _move_pace(server, now, step)
        if moved is None and not VicidialCallPace.objects.filter(server=server).exists():
            # The server's first call: its row, then the reservation.
            VicidialCallPace.objects.get_or_create(server=server)
            now = timezone.now()  # after the row's own time
            moved = _move_pace(server, now, step)
    if moved is None:
        return None
    return max(0.0, (moved - step - now).total_seconds())


def _move_pace(server: str, now: datetime, step: timedelta) -> datetime | None:
    """One statement where a SELECT ... FOR UPDATE and an UPDATE were two: the server's row
    moves from max(now, next call) to one step later, unless the next call is further off
    than LONGEST_WAIT_SECONDS; its new next call time, or None if it did not move. The
    UPDATE takes the row's lock, so calls reserve their turns one after another."""
    rows = VicidialCallPace.objects.filter(
        server=server, next_call_at__lte=now + timedelta(seconds=LONGEST_WAIT_SECONDS)
    )
    query = rows.query.chain(UpdateQuery)
    start = Greatest(Value(now, output_field=DateTimeField()), F("next_call_at"))
    query.add_update_values({"next_call_at": ExpressionWrapper(start + step, DateTimeField())})
    connection = connections[rows.db]
    statement, params = query.get_compiler(connection=connection).as_sql()
    field = VicidialCallPace._meta.get_field("next_call_at")
    with connection.cursor() as cursor:
        cursor.execute(f"{statement} RETURNING {connection.ops.quote_name(field.column)}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    value, column = row[0], field.get_col(VicidialCallPace._meta.db_table)
    for convert in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
        value = convert(value, column, connection)
    return value
