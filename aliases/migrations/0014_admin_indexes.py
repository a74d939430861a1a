"""The indexes the admin's exact search and date filters read: alias ID and extension login
in any case, the source VICIdial logged on a call, and when a request was decided.

Built CONCURRENTLY on PostgreSQL: a plain CREATE INDEX holds off every write to the table
(and so approvals and calls) while it reads millions of rows. Elsewhere, a plain one.
"""

import django.db.models.functions.text
from django.db import migrations, models

from aliases.migration_operations import AddIndexWithoutBlockingWrites


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    # Chained after the pages' 0014 so that both can migrate meanwhile (two leaves refuse).
    dependencies = [("aliases", "0014_pages_indexes")]

    operations = [
        AddIndexWithoutBlockingWrites(
            model_name="aliasrequest",
            index=models.Index(
                django.db.models.functions.text.Lower("alias_id"),
                name="aliasrequest_alias_id_ci",
            ),
        ),
        AddIndexWithoutBlockingWrites(
            model_name="aliasrequest",
            index=models.Index(fields=["decided_at"], name="aliasrequest_decided_at"),
        ),
        AddIndexWithoutBlockingWrites(
            model_name="vicidialcall",
            index=models.Index(
                django.db.models.functions.text.Lower("source"), name="vicidialcall_source_ci"
            ),
        ),
        AddIndexWithoutBlockingWrites(
            model_name="extension",
            index=models.Index(
                django.db.models.functions.text.Lower("login"), name="extension_login_ci"
            ),
        ),
    ]
