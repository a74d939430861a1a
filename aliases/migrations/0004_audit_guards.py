"""Database-level guards for the audit trail, and the audit permissions of each role."""

from django.db import migrations

from aliases.role_permissions import grant

APPEND_ONLY_TABLES = ["aliases_auditevent", "aliases_auditeventextension"]

FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION aliases_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

TRIGGER_SQL = """
CREATE TRIGGER {table}_append_only
BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION aliases_refuse_audit_change();
"""


def install_triggers(apps, schema_editor):
    # PostgreSQL is the production database; SQLite relies on the model's own refusal.
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION_SQL, params=None)
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(TRIGGER_SQL.format(table=table))


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS aliases_refuse_audit_change()")


def create_chain_head(apps, schema_editor):
    apps.get_model("aliases", "AuditChainHead").objects.get_or_create(pk=1)


def grant_audit_permissions(apps, schema_editor):
    grant(
        apps,
        {
            "Admins": ["view_auditevent", "view_extension"],
            "Auditors": ["view_auditevent", "view_extension", "export_auditevent"],
        },
    )


class Migration(migrations.Migration):
    dependencies = [("aliases", "0003_audit_trail_and_extensions")]

    operations = [
        migrations.RunPython(install_triggers, remove_triggers),
        migrations.RunPython(create_chain_head, migrations.RunPython.noop),
        migrations.RunPython(grant_audit_permissions, migrations.RunPython.noop),
    ]
