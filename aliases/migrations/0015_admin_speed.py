"""The indexes the admin's searches read: a request's calls with their ids, so that the
newest of the found requests' calls come from the index alone, without a row per call; and
an alias ID in any case (the inventory's unique index leads with the server, so a search by
alias ID alone read all of it).

Built CONCURRENTLY on PostgreSQL (see 0014_admin_indexes): a plain CREATE INDEX holds off
every write to the calls table while it reads a million rows.
"""

import django.db.models.functions.text
from django.db import migrations, models

from aliases.migration_operations import AddIndexWithoutBlockingWrites


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("aliases", "0014_admin_indexes")]

    operations = [
        AddIndexWithoutBlockingWrites(
            model_name="vicidialcall",
            index=models.Index(fields=["request", "id"], name="vicidialcall_request_newest"),
        ),
        AddIndexWithoutBlockingWrites(
            model_name="alias",
            index=models.Index(
                django.db.models.functions.text.Lower("alias_id"), name="alias_alias_id_ci"
            ),
        ),
    ]
