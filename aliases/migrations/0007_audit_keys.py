"""Key the audit chain and guard every audit table with django-pgtrigger.

Events get the id and HMAC of the key that signed them; digests get a table that links the
signed series. The triggers of 0004 refused UPDATE and DELETE only, row by row; the ones
declared on the models also refuse TRUNCATE and keep the chain head moving forward only.
"""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

OLD_GUARDED_TABLES = ["aliases_auditevent", "aliases_auditeventextension"]

OLD_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION aliases_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

OLD_TRIGGER_SQL = """
CREATE TRIGGER {table}_append_only
BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION aliases_refuse_audit_change();
"""


def drop_hand_written_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in OLD_GUARDED_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS aliases_refuse_audit_change()")


def restore_hand_written_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(OLD_FUNCTION_SQL, params=None)
    for table in OLD_GUARDED_TABLES:
        schema_editor.execute(OLD_TRIGGER_SQL.format(table=table))


class Migration(migrations.Migration):
    dependencies = [("aliases", "0006_names")]

    operations = [
        migrations.RunPython(drop_hand_written_triggers, restore_hand_written_triggers),
        migrations.CreateModel(
            name="AuditDigest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence", models.PositiveBigIntegerField()),
                ("head_hash", models.CharField(blank=True, max_length=64)),
                ("created_at", models.DateTimeField()),
                ("sha256", models.CharField(max_length=64, unique=True)),
                ("previous_sha256", models.CharField(max_length=64, unique=True)),
                ("signature", models.CharField(max_length=100)),
                ("signing_key", models.CharField(max_length=80)),
                ("file_name", models.CharField(max_length=100)),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(blank=True, max_length=64),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditchainhead",
            trigger=pgtrigger.compiler.Trigger(
                name="head_kept",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot delete rows from % table', TG_TABLE_NAME;",
                    hash="33617845bb43dd3e5ae20d1754363aa2569ceb7f",
                    operation="DELETE",
                    pgid="pgtrigger_head_kept_ba34c",
                    table="aliases_auditchainhead",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditchainhead",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'audit trail is append-only: TRUNCATE on % refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';",
                    hash="1e80d5c9f8d1eeabef6be82a731930b8a50f267c",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_6e54e",
                    table="aliases_auditchainhead",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditchainhead",
            trigger=pgtrigger.compiler.Trigger(
                name="head_moves_forward",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="IF NEW.sequence <> OLD.sequence + 1 OR NOT EXISTS (SELECT 1 FROM aliases_auditevent WHERE sequence = NEW.sequence AND hash = NEW.hash) THEN RAISE EXCEPTION 'audit chain head moves one written event forward at a time: #% to #% refused', OLD.sequence, NEW.sequence USING ERRCODE = 'insufficient_privilege'; END IF; RETURN NEW;",
                    hash="fa707ddf9a61033c7a449e96bc9210e186490426",
                    operation="UPDATE",
                    pgid="pgtrigger_head_moves_forward_f3c8b",
                    table="aliases_auditchainhead",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditevent",
            trigger=pgtrigger.compiler.Trigger(
                name="append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="ae31db34b606e3cfa30c6906e41fbf1c9cc9de3e",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_append_only_5f5f9",
                    table="aliases_auditevent",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditevent",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'audit trail is append-only: TRUNCATE on % refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';",
                    hash="4812999a1b9670406c64b32f39b3826e19548f6b",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_f8a07",
                    table="aliases_auditevent",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditeventextension",
            trigger=pgtrigger.compiler.Trigger(
                name="append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="bdbb1b39390d4556c6e0b9c59192664d55135d13",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_append_only_3dd96",
                    table="aliases_auditeventextension",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditeventextension",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'audit trail is append-only: TRUNCATE on % refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';",
                    hash="eecead79ced8d150fb1357b9e30176354fad8bc7",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_45742",
                    table="aliases_auditeventextension",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditdigest",
            trigger=pgtrigger.compiler.Trigger(
                name="append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="bd33a9b9a07997b4ebf905d4b3622399011ccc37",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_append_only_e2618",
                    table="aliases_auditdigest",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditdigest",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'audit trail is append-only: TRUNCATE on % refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';",
                    hash="51639ba1fa1f6e92f3ae296184b2f1cc656da250",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_f3945",
                    table="aliases_auditdigest",
                    when="BEFORE",
                ),
            ),
        ),
    ]
