from django.conf import settings
from django.db import migrations, models


def hash_closed_requests(apps, schema_editor):
    """Requests closed before this migration keep only the keyed hash of their subject."""
    from consent.identifiers import subject_digest

    ErasureRequest = apps.get_model("retention", "ErasureRequest")
    for request in ErasureRequest.objects.exclude(status="open").exclude(external_id=""):
        request.subject_hmac = subject_digest(request.namespace, request.external_id)
        request.external_id = ""
        request.save(update_fields=["subject_hmac", "external_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0004_suggestion_decision_and_unclassified"),
        ("retention", "0003_connection_moves_to_the_catalog"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="erasurerequest",
            name="subject_hmac",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Keyed hash of namespace:id, kept instead of the id once the request is closed.",
                max_length=64,
            ),
        ),
        migrations.RunPython(hash_closed_requests, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="erasurerequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status", "open"),
                    models.Q(("external_id", ""), models.Q(("subject_hmac", ""), _negated=True)),
                    _connector="OR",
                ),
                name="retention_erasure_closed_keeps_only_a_keyed_hash",
            ),
        ),
    ]
