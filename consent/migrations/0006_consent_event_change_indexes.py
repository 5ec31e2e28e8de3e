"""Two indexes on consent events that let an access decision reuse its consent snapshot
without scanning a purpose's subjects: events recorded after a moment, and consent running out
in a window, per purpose (consent.selectors.history.answer_unchanged).

Built CONCURRENTLY on PostgreSQL (outside a transaction, so consent keeps being recorded while
they build on a large history); plainly on SQLite (the embedded setup)."""

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("consent", "0005_decision_snapshots"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="consentevent",
            index=models.Index(fields=["purpose", "recorded_at"], name="consent_event_recorded"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="consentevent",
            index=models.Index(
                condition=models.Q(("valid_until__isnull", False)),
                fields=["purpose", "valid_until"],
                name="consent_event_valid_until",
            ),
        ),
    ]
