"""Each ledger entry's hash, stored by the INSERT that allocates its id (ADR 0015, addendum on
the ledger). A nullable column added without a default rewrites no row: existing entries keep
NULL, which the sealer treats as "hash the row" (the ledger refuses UPDATE, so they cannot be
back-filled, and need not be)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_checkpoint"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="entry_sha256",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="SHA-256 of the entry's canonical bytes, computed in the INSERT that gives it its id, so the sealer need not rebuild them; NULL when it could not be known before the row is read back (the sealer then hashes the row). Not part of the canonical entry; verification always recomputes from the content.",
                max_length=64,
                null=True,
            ),
        ),
    ]
