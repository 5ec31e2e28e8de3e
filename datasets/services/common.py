from __future__ import annotations

from django.db import connection
from django.utils import timezone

from datasets.models import Dataset
from datasets.rules import sensitivity_of

# Any fixed number: the key of the advisory lock that serialises location claims.
_LOCATIONS_LOCK = 7_316_001


def lock_locations() -> None:
    """Serialise "is this location free? then claim it" across concurrent transactions (held
    until the transaction ends). SQLite's IMMEDIATE transactions serialise writers already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCATIONS_LOCK])


def refresh_sensitivity(dataset: Dataset) -> str:
    """Recompute the derived sensitivity from the fields and store it if it changed."""
    level = sensitivity_of(dataset.fields.all().only("role", "special_category"))
    if dataset.sensitivity != level:
        dataset.sensitivity = level
        dataset.updated_at = timezone.now()
        dataset.save(update_fields=["sensitivity", "updated_at"])
    return level
