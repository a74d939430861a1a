"""The (occurred_at, sequence) index the audit page's day filters read.

Built CONCURRENTLY on PostgreSQL: a plain CREATE INDEX holds off every audit write (and so
every approval) for the seconds it takes on millions of events. Elsewhere, a plain one.
"""

from django.db import migrations, models

from aliases.migration_operations import AddIndexWithoutBlockingWrites


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("aliases", "0013_worker_and_batches")]

    operations = [
        AddIndexWithoutBlockingWrites(
            model_name="auditevent",
            index=models.Index(fields=["occurred_at", "sequence"], name="auditevent_time_seq"),
        ),
    ]
