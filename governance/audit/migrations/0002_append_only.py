"""The database refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) on the ledger tables."""

from django.db import migrations

from governance.audit.triggers import make_append_only

forwards, backwards = make_append_only("audit_ledgerentry", "audit_chainlink")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
