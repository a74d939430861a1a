"""Admins and auditors read the signed audit digests in the Django admin; nobody else does."""

from django.db import migrations

from aliases.role_permissions import grant


def grant_digest_permissions(apps, schema_editor):
    grant(apps, {"Admins": ["view_auditdigest"], "Auditors": ["view_auditdigest"]})


class Migration(migrations.Migration):
    dependencies = [("aliases", "0008_call_slots")]

    operations = [migrations.RunPython(grant_digest_permissions, migrations.RunPython.noop)]
