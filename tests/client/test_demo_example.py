"""`make run`'s demo data is enough for the Python client's example job: seed_demo, then the
job as a new user runs it (its defaults, the credentials seed_demo printed) trains."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from consent.models import ConsentEvent, Purpose
from datasets.models import Dataset
from governance.access.models import BudgetClaim, BudgetRequirement, Grant
from governance.audit.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"


def _counts() -> list[int]:
    models = (Dataset, Purpose, ConsentEvent, Grant, BudgetRequirement, LedgerEntry)
    return [model.objects.count() for model in models]


def test_the_example_job_trains_against_the_seeded_demo(live_server, settings, tmp_path, capsys):
    # given the demo, seeded as `make run` does (twice: the second run changes nothing)
    settings.DEBUG = True
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "keys" / "lease.jwks.json"
    settings.PSEUDONYM_MASTER_KEYS = {"m1": "A" * 43}
    settings.RETENTION_FILE_ROOTS = [tmp_path / "retention"]
    settings.SCANNER_FILE_ROOTS = [tmp_path / "scanner"]
    call_command("seed_demo")
    first = capsys.readouterr().out
    counts = _counts()
    call_command("seed_demo")
    again = capsys.readouterr().out
    assert _counts() == counts
    exports = dict(
        re.findall(r"export (GOVERNANCE_CLIENT_ID|GOVERNANCE_CLIENT_SECRET)=(\S+)", first)
    )
    assert "export GOVERNANCE_CLIENT_SECRET=..." in again  # shown once, then how to get one
    assert f"GOVERNANCE_CLIENT_ID={exports['GOVERNANCE_CLIENT_ID']}" in again
    connection.close()
    # when the example job runs with its defaults and the printed credentials
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_churn.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "GOVERNANCE_URL": live_server.url, **exports},
        timeout=300,
        check=False,
    )
    # then it trains on the consenting customers only and commits its budget claim
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows_used"] == 531  # 600 customers, 10 never asked, 59 withdrew
    assert "phone" not in metrics["columns"]
    claim = BudgetClaim.objects.get(pk=metrics["budget_claim"])
    assert (claim.status, claim.dataset.slug, claim.purpose_slug) == (
        "committed",
        "churn-events",
        "churn-model",
    )
