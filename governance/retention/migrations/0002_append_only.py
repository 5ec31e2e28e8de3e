"""Deletion certificates are evidence: the database refuses UPDATE, DELETE and TRUNCATE."""

from django.db import migrations

from governance.audit.triggers import make_append_only

forwards, backwards = make_append_only("retention_deletioncertificate")


class Migration(migrations.Migration):
    dependencies = [("retention", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
