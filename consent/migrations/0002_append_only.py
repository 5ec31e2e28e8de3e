"""The database refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) on consent events and on
privacy notices: the history is evidence, a correction is a new row."""

from django.db import migrations

from governance.audit.triggers import make_append_only

forwards, backwards = make_append_only("consent_consentevent", "consent_noticeversion")


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
