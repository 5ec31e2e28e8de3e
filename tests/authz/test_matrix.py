"""The authorization matrix: every API operation and every portal view (matrix.txt) asked by
every principal (world.py), each cell against the same world and rolled back afterwards.

For each cell the test asserts the status the table expects and, whenever the answer is a
refusal, that nothing changed: no row of a governed table was inserted, updated or deleted
(PostgreSQL's transaction counters, ``writes``), and the ledger gained nothing but refusal
events. The table is the specification; a reviewer reads it,
not this code.

Set MATRIX_RECORD=path to write the observed grid (same format) for review.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.apps import apps
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_logged_in
from django.contrib.messages import constants as message_levels
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client

from governance.audit.models import LedgerEntry
from tests.authz.world import COLUMNS, SERVICE_COLUMNS, build

HERE = Path(__file__).parent
MATRIX = HERE / "matrix.txt"
BODIES = yaml.safe_load((HERE / "bodies.yaml").read_text())

GOVERNED_APPS = {
    "accounts",
    "auth",
    "guardian",
    "oauth2_provider",
    "datasets",
    "consent",
    "access",
    "retention",
    "compliance",
    "registers",
    "subject_access",
}
REFUSALS_API = {"400", "401", "403", "404", "405", "409"}
REFUSALS_PORTAL = {"400", "403", "404", "405", "in", "no"}
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")


@dataclass(frozen=True)
class Row:
    line: int
    method: str
    path: str
    body: str
    expected: dict[str, str]

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.body}]" if self.body != "-" else "")


def rows() -> list[Row]:
    parsed = []
    for number, raw in enumerate(MATRIX.read_text().splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        method, path, body, cells = parts[0], parts[1], parts[2], parts[3:]
        assert len(cells) == len(COLUMNS), f"matrix.txt line {number}: {len(cells)} cells"
        parsed.append(Row(number, method, path, body, dict(zip(COLUMNS, cells, strict=True))))
    return parsed


def _fill(value, ids: dict):
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), value)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def governed_tables() -> list[str]:
    return sorted(
        {
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if model._meta.app_label in GOVERNED_APPS and model._meta.managed
        }
    )


def writes(tables: list[str]) -> dict[str, tuple[int, int, int]]:
    """Rows inserted, updated and deleted so far in this transaction, per governed table:
    PostgreSQL's own counters (``pg_stat_xact_user_tables``). Any change to a row is one of
    these, and an UPDATE that writes back the same values counts too, so comparing them
    before and after a request is stricter than comparing table contents — and costs one
    small query instead of a digest of every table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables "
            "WHERE schemaname = current_schema() AND relname = ANY(%s)",
            [tables],
        )
        return {name: (ins, upd, dele) for name, ins, upd, dele in cursor.fetchall()}


@contextmanager
def rolled_back():
    """A savepoint undone after the cell. Marked like TestCase's own atomic blocks, so that
    services that insist on a durable transaction run as they do in other tests."""
    atomic = transaction.atomic()
    atomic._from_testcase = True
    atomic.__enter__()
    try:
        yield
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


def _outcome(response) -> str:
    if response.status_code in (301, 302):
        location = response.get("Location", "")
        if any(page in location for page in LOGIN_PAGES):
            return "in"
        storage = getattr(response.wsgi_request, "_messages", None)
        queued = list(getattr(storage, "_queued_messages", []) or [])
        if any(m.level >= message_levels.ERROR for m in queued):
            return "no"
        return "ok"
    return str(response.status_code)


def _request(client: Client, row: Row, ids: dict, headers: dict):
    path = _fill(row.path, ids)
    body = _fill(BODIES[row.body], ids) if row.body != "-" else None
    if row.method == "GET":
        return client.get(path, **headers)
    if row.is_api:  # API clients send JSON, an empty object when there is nothing to say
        payload = body["json"] if body is not None else {}
        return client.generic(
            row.method, path, json.dumps(payload), content_type="application/json", **headers
        )
    form = (body or {}).get("form", {})
    if row.method == "POST":
        return client.post(path, form, **headers)
    return client.generic(row.method, path, **headers)


@pytest.fixture
def no_last_login():
    """Signing in touches last_login; the cells compare tables before and after a request, so
    the test signs in without it (the sign-in itself is not under test here)."""
    user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
    yield
    user_logged_in.connect(update_last_login, dispatch_uid="update_last_login")


def test_the_authorization_matrix(db, tmp_path, settings, no_last_login):
    world = build(tmp_path, settings)
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "sample.csv").write_text("id,score\n1,0.5\n2,0.7\n")
    ids = {**world.ids, "TMP": str(tmp_path)}
    clients = {column: Client() for column in COLUMNS}
    for column, person in world.people.items():
        clients[column].force_login(person)
    tables = governed_tables()
    mismatches, observed = [], {}
    for row in rows():
        for column in COLUMNS:
            cache.clear()  # throttles and lockouts count per cell
            with rolled_back():
                client = clients[column]
                headers = {}
                if column in SERVICE_COLUMNS:
                    headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[column]}"
                last = LedgerEntry.objects.order_by("-id").values_list("id", flat=True).first()
                before = writes(tables)
                try:
                    response = _request(client, row, ids, headers)
                    if getattr(response, "streaming", False):
                        b"".join(response.streaming_content)
                    got = _outcome(response)
                except Exception as exc:  # a 500: reported as a mismatch, never expected
                    got = f"raised:{type(exc).__name__}"
                observed[(row.line, column)] = got
                expected = row.expected[column]
                if got != expected:
                    mismatches.append(f"line {row.line} {row.label} / {column}: {expected} → {got}")
                    continue
                refusals = REFUSALS_API if row.is_api else REFUSALS_PORTAL
                if got in refusals:
                    after = writes(tables)
                    if after != before:
                        changed = sorted(k for k, v in after.items() if before.get(k) != v)
                        mismatches.append(f"line {row.line} {row.label} / {column}: {changed}")
                    new_events = set(
                        LedgerEntry.objects.filter(id__gt=last or 0)
                        .exclude(event="auth.login")
                        .values_list("event", flat=True)
                    )
                    if any(not event.endswith("refused") for event in new_events):
                        mismatches.append(
                            f"line {row.line} {row.label} / {column}: ledger {sorted(new_events)}"
                        )
    if os.environ.get("MATRIX_RECORD"):
        _record(Path(os.environ["MATRIX_RECORD"]), observed)
    assert not mismatches, "\n" + "\n".join(mismatches)


def _record(target: Path, observed: dict) -> None:
    lines = []
    for number, raw in enumerate(MATRIX.read_text().splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            lines.append(raw)
            continue
        method, path, body = raw.split()[:3]
        cells = " ".join(f"{observed[(number, c)]:<4}" for c in COLUMNS)
        lines.append(f"{method:<6} {path:<58} {body:<24} {cells}".rstrip())
    target.write_text("\n".join(lines) + "\n")


def test_the_write_counters_see_every_change_a_refusal_must_not_make(db, bob):
    """The matrix's 'nothing changed' relies on ``writes``: an insert, an update (even one
    that writes the same values back) and a delete each show."""
    from datasets.models import DataCategory

    tables = governed_tables()
    before = writes(tables)
    category = DataCategory.objects.create(key="probe.counter", name="Probe")
    after_insert = writes(tables)
    DataCategory.objects.filter(pk=category.pk).update(name="Probe")
    after_update = writes(tables)
    DataCategory.objects.filter(pk=category.pk).delete()
    after_delete = writes(tables)
    table = DataCategory._meta.db_table
    assert table in tables
    assert before != after_insert != after_update != after_delete
    assert after_delete[table] == (
        before.get(table, (0, 0, 0))[0] + 1,
        before.get(table, (0, 0, 0))[1] + 1,
        before.get(table, (0, 0, 0))[2] + 1,
    )
