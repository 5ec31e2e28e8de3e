"""The ledger: one append-only table for model changes (django-auditlog) and domain events.

``LedgerEntry`` is auditlog's swappable LogEntry (AUDITLOG_LOGENTRY_MODEL), so every registered
model's diff lands here, next to domain events written by ``audit.services.record``. The
database refuses UPDATE, DELETE and TRUNCATE on it (migration 0002). ``ChainLink`` is where the
sealer writes each entry's position in the hash chain; it is append-only as well, so sealing
never needs to update a ledger row.
"""

from __future__ import annotations

import re

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.db import connections, models

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

_MODEL_EVENTS = {
    AbstractLogEntry.Action.CREATE: "model.created",
    AbstractLogEntry.Action.UPDATE: "model.updated",
    AbstractLogEntry.Action.DELETE: "model.deleted",
    AbstractLogEntry.Action.ACCESS: "model.accessed",
}


def _sequence_sql(table: str) -> str:
    return f"nextval(pg_get_serial_sequence('{table}', 'id'))"


class LedgerEntryManager(LogEntryManager):
    def bulk_create(self, objs, *args, **kwargs):
        """On PostgreSQL, take the new entries' ids from the sequence first (one statement for
        the batch), so each row is inserted with its entry hash (see ``entry_sha256``)."""
        objs = list(objs)
        connection = connections[self.db]
        fresh = [obj for obj in objs if obj.pk is None and obj.entry_sha256 is None]
        if fresh and connection.vendor == "postgresql":
            from governance.audit.chain import canonical_hash_of_new

            table = connection.ops.quote_name(self.model._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {_sequence_sql(table)} FROM generate_series(1, %s)",  # noqa: S608
                    [len(fresh)],
                )
                ids = [row[0] for row in cursor.fetchall()]
            for obj, entry_id in zip(fresh, sorted(ids), strict=True):
                obj.entry_sha256 = canonical_hash_of_new(obj, entry_id)
                obj.id = entry_id
        return super().bulk_create(objs, *args, **kwargs)


class LedgerEntry(AbstractLogEntry):
    class Action(AbstractLogEntry.Action):
        EVENT = 10
        choices = (*AbstractLogEntry.Action.choices, (EVENT, "event"))

    # Overridden from AbstractLogEntry: domain events may have no target (a failed login for an
    # unknown user), and a content type or actor must never be deleted out from under the log.
    content_type = models.ForeignKey(
        "contenttypes.ContentType",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    object_pk = models.CharField(db_index=True, max_length=255, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    action = models.PositiveSmallIntegerField(choices=Action.choices, db_index=True)

    event = models.CharField(
        max_length=100,
        db_index=True,
        help_text="What happened: model.created/updated/deleted for diffs, or a domain event "
        "such as auth.login or access.check.",
    )
    actor_label = models.CharField(
        max_length=150,
        blank=True,
        default="",
        help_text="The actor's username when the entry was written (kept if renamed).",
    )
    entry_sha256 = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        editable=False,
        help_text="SHA-256 of the entry's canonical bytes, computed in the INSERT that gives it "
        "its id, so the sealer need not rebuild them; NULL when it could not be known before "
        "the row is read back (the sealer then hashes the row). Not part of the canonical "
        "entry; verification always recomputes from the content.",
    )

    objects = LedgerEntryManager()

    class Meta(AbstractLogEntry.Meta):
        swappable = "AUDITLOG_LOGENTRY_MODEL"
        verbose_name = "ledger entry"
        verbose_name_plural = "ledger entries"
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["event", "timestamp"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(event=""), name="audit_ledgerentry_event_not_empty"
            ),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("ledger entries are append-only")
        if not self.event:
            self.event = _MODEL_EVENTS.get(self.action, "model.changed")
        if self.actor_id is None:
            # auditlog fills the actor in a pre_save receiver that runs after this method; take
            # it from the same context here so the label below is written too.
            from governance.audit.context import current_actor

            actor = current_actor()
            if actor is not None and getattr(actor, "is_authenticated", False):
                self.actor = actor
        if self.actor_id and not self.actor_label:
            self.actor_label = getattr(self.actor, "username", "")[:150]
        super().save(*args, **kwargs)

    def _do_insert(self, manager, using, fields, returning_fields, raw):
        """On PostgreSQL, one INSERT takes the id from the sequence and stores the entry hash
        over the canonical bytes with that id (``chain.canonical_parts``): no second round trip,
        no UPDATE (the table refuses them). Anything unusual takes Django's own INSERT and
        leaves ``entry_sha256`` NULL for the sealer to compute."""
        connection = connections[using]
        if (
            connection.vendor != "postgresql"
            or raw
            or self.pk is not None
            or self.entry_sha256 is not None
            or any(field.primary_key for field in fields)
        ):
            return super()._do_insert(manager, using, fields, returning_fields, raw)
        from governance.audit.chain import canonical_parts

        columns, params = [], []
        for field in fields:
            if field.attname == "entry_sha256":
                continue
            value = field.pre_save(self, True)
            if hasattr(value, "resolve_expression"):
                return super()._do_insert(manager, using, fields, returning_fields, raw)
            columns.append(field.column)
            params.append(field.get_db_prep_save(value, connection=connection))
        parts = canonical_parts(self)  # after pre_save: from the values being written
        if parts is None:
            return super()._do_insert(manager, using, fields, returning_fields, raw)
        quote = connection.ops.quote_name
        table = quote(self._meta.db_table)
        returning_fields = list(returning_fields or ())
        returning = "".join(f"{table}.{quote(f.column)}, " for f in returning_fields)
        sql = (
            f"WITH n AS (SELECT {_sequence_sql(table)} AS id) "  # noqa: S608
            f"INSERT INTO {table} ({quote(self._meta.pk.column)}, "
            f"{', '.join(quote(column) for column in columns)}, {quote('entry_sha256')}) "
            f"VALUES ((SELECT id FROM n), {', '.join(['%s'] * len(columns))}, "
            "encode(sha256(%s::bytea || convert_to((SELECT id FROM n)::text, 'UTF8') "
            "|| %s::bytea), 'hex')) "
            f"RETURNING {returning}{table}.{quote('entry_sha256')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, parts[0], parts[1]])
            row = cursor.fetchone()
        self.entry_sha256 = row[-1]
        return [row[:-1]] if returning_fields else []


class ChainLink(models.Model):
    """The position of one ledger entry in the hash chain. Written once by the sealer."""

    position = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="link")
    entry_hash = models.CharField(max_length=64)
    chain_hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(position__gte=0), name="audit_chainlink_position_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.chain_hash[:12]}"


class Checkpoint(models.Model):
    """A signed statement "the chain had ``size`` links and its head was ``head_hash`` at
    ``created_at``", Ed25519-signed by key ``kid`` (see governance/audit/chain.py for the
    exact signed text). Append-only (migration 0003); ``note`` is not signed."""

    size = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    kid = models.CharField(max_length=100)
    signature = models.CharField(max_length=200, help_text="Raw Ed25519 signature, base64url.")
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(size__gte=0), name="audit_checkpoint_size_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"checkpoint size {self.size} head {self.head_hash[:12]}"
