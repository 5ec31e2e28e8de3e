"""Append-only enforcement in the database itself.

The application never updates or deletes ledger rows; these triggers make the database refuse
it for everyone else too (a careless operator, a buggy migration, a raw SQL console). Someone
who can disable triggers can still edit rows: the hash chain and signed checkpoints make that
detectable (see docs/adr/0002-append-only-ledger.md).
"""

from __future__ import annotations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION governance_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def append_only_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            PG_FUNCTION,
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION governance_refuse_change();",
            # Row triggers do not fire on TRUNCATE.
            f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse_change();",
        ]
    if vendor == "sqlite":
        return [
            f'CREATE TRIGGER "{table}_no_update" BEFORE UPDATE ON "{table}" BEGIN '
            f"SELECT RAISE(ABORT, 'append-only table {table}: UPDATE refused'); END;",
            f'CREATE TRIGGER "{table}_no_delete" BEFORE DELETE ON "{table}" BEGIN '
            f"SELECT RAISE(ABORT, 'append-only table {table}: DELETE refused'); END;",
        ]
    raise NotImplementedError(f"no append-only triggers for database vendor {vendor!r}")


def drop_append_only_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}";',
            f'DROP TRIGGER IF EXISTS "{table}_no_truncate" ON "{table}";',
        ]
    if vendor == "sqlite":
        return [
            f'DROP TRIGGER IF EXISTS "{table}_no_update";',
            f'DROP TRIGGER IF EXISTS "{table}_no_delete";',
        ]
    return []


def make_append_only(*tables: str):
    """Build the forward/backward RunPython functions for a migration."""

    def forwards(apps, schema_editor):
        for table in tables:
            for statement in append_only_sql(schema_editor.connection.vendor, table):
                schema_editor.execute(statement, params=None)

    def backwards(apps, schema_editor):
        for table in tables:
            for statement in drop_append_only_sql(schema_editor.connection.vendor, table):
                schema_editor.execute(statement, params=None)

    return forwards, backwards
