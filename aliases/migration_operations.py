"""Migration operations of our own, importable from any migration (so keep them stable).

AddIndexWithoutBlockingWrites builds the index CONCURRENTLY on PostgreSQL: a plain CREATE
INDEX holds off every write to the table (audit events, and so every approval) for the
seconds it takes on millions of rows. Elsewhere it is a plain AddIndex. Django's own
AddIndexConcurrently runs on PostgreSQL only, and the tests migrate SQLite too.
A migration using it must set `atomic = False`: CONCURRENTLY cannot run in a transaction.
"""

from django.db import migrations


def _concurrently(schema_editor) -> dict[str, bool]:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


class AddIndexWithoutBlockingWrites(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **_concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **_concurrently(schema_editor))
