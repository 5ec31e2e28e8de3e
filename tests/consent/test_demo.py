"""Demo data: varied purposes, a few thousand realistic histories, idempotent; and the whole
consent path on the embedded SQLite database that `make run` uses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from consent import demo, selectors, services
from consent.identifiers import add_months
from consent.models import ConsentEvent, ConsentState, Purpose, Subject

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_seeds_purposes_in_every_status_and_consistent_histories(alice, petra):
    # when
    out = io.StringIO()
    demo.seed(stdout=out)
    # then
    statuses = {(p.slug, p.version): p.status for p in Purpose.objects.all()}
    assert statuses == {
        ("churn-model-training", 1): "active",
        ("health-insights-research", 1): "active",
        ("fraud-detection", 1): "active",
        ("newsletter-propensity", 1): "retired",
        ("newsletter-propensity", 2): "active",
        ("recommendations-personalisation", 1): "submitted",
        ("order-volume-forecasting", 1): "draft",
        ("churn-model", 1): "active",  # the Python client's example job's
    }
    assert set(Purpose.objects.values_list("legal_basis", flat=True)) == {
        "consent",
        "legitimate_interests",
        "contract",
    }
    assert Subject.objects.count() == demo.SUBJECTS + 600  # and the example's customers
    assert set(ConsentEvent.objects.values_list("status", flat=True)) >= {
        "given",
        "renewed",
        "withdrawn",
        "refused",
    }
    # every state is the latest event of its history
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (subject_id, purpose_id) subject_id, purpose_id, id "
            "FROM consent_consentevent ORDER BY subject_id, purpose_id, occurred_at DESC, id DESC"
        )
        latest = {(s, p): e for s, p, e in cursor.fetchall()}
    states = {(s.subject_id, s.purpose_id): s.event_id for s in ConsentState.objects.all()}
    assert states == latest
    # some consents lapsed without an event, some are valid now
    churn = Purpose.objects.get(slug="churn-model-training")
    summary = selectors.state_summary(purpose=churn)
    assert summary["valid"] > 1000
    assert summary["expired"] > 0
    assert summary["withdrawn"] > 0
    assert Purpose.objects.get(slug="churn-model-training").activated_by == petra
    assert "3000 subjects" in out.getvalue()
    # the example job's purpose: most of its customers consented, some withdrew since
    example = selectors.state_summary(purpose=Purpose.objects.get(slug="churn-model"))
    assert (example["valid"], example["withdrawn"]) == (531, 59)


def test_the_demo_is_idempotent(alice, petra):
    demo.seed(stdout=io.StringIO())
    counts = (Purpose.objects.count(), ConsentEvent.objects.count())
    out = io.StringIO()
    demo.seed(stdout=out)
    assert (Purpose.objects.count(), ConsentEvent.objects.count()) == counts
    assert out.getvalue() == "Consent demo data: existsConsent demo data: churn-model exists"


def test_a_job_can_filter_demo_subjects_as_of_the_past(alice, petra, bob):
    demo.seed(stdout=io.StringIO())
    ids = [f"c-{i:06d}" for i in range(1, 3001)]
    now = services.consent_filter(
        purpose="churn-model-training", namespace="shop", subject_ids=ids, actor=bob
    )
    year_ago = services.consent_filter(
        purpose="churn-model-training",
        namespace="shop",
        subject_ids=ids,
        actor=bob,
        as_of=add_months(now.snapshot.as_of, -12),
    )
    assert 0 < len(year_ago.subject_ids) < 3000
    assert now.subject_ids != year_ago.subject_ids


_SQLITE_CHECK = """
import json
from django.utils import timezone
from consent import services, selectors
from consent.apis.formats import ndjson_rows
from consent.models import Purpose
from consent.services import EventInput

ids = [f"c-{i:06d}" for i in range(1, 3001)]
slug = "churn-model-training"
answer = services.consent_filter(purpose=slug, namespace="shop", subject_ids=ids, actor=None)
snapshot = services.consent_export_start(purpose=slug, actor=None)
body = "".join(services.export_lines(snapshot, render=ndjson_rows))
snapshot.refresh_from_db()
results = services.consent_record_batch(events=[
    EventInput(subject_id="c-000001", purpose=slug, namespace="shop", status="withdrawn"),
    EventInput(
        subject_id="new-1", purpose=slug, namespace="shop", status="given", notice_version=2
    ),
], actor=None)
churn = Purpose.objects.get(slug=slug)
buckets, series = selectors.monthly_flows(purpose=churn, months=12)
print(json.dumps({
    "filtered": len(answer.subject_ids),
    "exported": body.count("\\n"),
    "snapshot_count": snapshot.count,
    "same_hash": snapshot.sha256 == answer.snapshot.sha256,
    "recorded": [r.replayed for r in results],
    "given_last_year": sum(series[0].values),
}))
"""


@pytest.mark.sqlite
def test_filter_export_and_batches_work_on_the_embedded_sqlite_database(tmp_path):
    # given `make run`'s database: SQLite, migrated, with the demo data
    path = tmp_path / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{path}",
        "DEBUG": "true",
        "CELERY_BROKER_URL": "filesystem://",
        "CACHE_URL": "locmem://",
        "VAR_DIR": str(tmp_path),
    }
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    # when the consent services answer there
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _SQLITE_CHECK],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then they agree with each other, as on PostgreSQL
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["filtered"] > 1000
    assert result["exported"] == result["filtered"] == result["snapshot_count"]
    assert result["same_hash"] is True
    assert result["recorded"] == [False, False]
    assert result["given_last_year"] > 0
