"""Issue 16 end to end: the Python client and the example training job against a live server,
through the real OAuth2 client-credentials flow. The job is allowed, drops withdrawn (and
never-asked) subjects, pseudonymizes, drops, generalizes and masks fields as obligated, claims
and commits privacy budget, and writes a run manifest whose lease verifies offline."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import governance_client
import pandas as pd
import pytest
from django.db import connection
from django.utils import timezone

from consent import services as consent
from consent.models import ConsentSnapshot
from consent.selectors.history import answer_digest
from consent.services.grants import service_account_consent_grant
from datasets import services as catalog
from governance.access import leases, pseudonyms
from governance.access import services as access
from governance.access.models import BudgetClaim
from governance.access.services import budget
from governance.audit.models import LedgerEntry
from tests.accounts.factories import UserFactory, make_service_account
from tests.consent.factories import event, make_purpose
from tests.datasets.factories import ANSWERS, make_dataset

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"
DATA = EXAMPLES / "data" / "churn.csv"
FIELDS = {
    "customer_id": ("user.unique_id.pseudonymous", "quasi_identifier", "", "keep"),
    "email": ("user.contact.email", "direct_identifier", "", "pseudonymize"),
    "phone": ("user.contact.phone_number", "direct_identifier", "", "drop"),
    "age": ("user.demographic.age_range", "quasi_identifier", "", "generalize"),
    "country": ("user.contact.address.country", "quasi_identifier", "", "keep"),
    "tenure_months": ("user.behavior.purchase_history", "non_personal", "", "keep"),
    "monthly_spend": ("user.behavior.purchase_history", "non_personal", "", "keep"),
    "support_calls": ("user.behavior", "non_personal", "", "keep"),
    "support_notes": ("user.content.private", "sensitive", "", "mask"),
    "event_time": (None, "non_personal", "", "keep"),
    "churned": (None, "non_personal", "", "keep"),
}


@pytest.fixture
def world(live_server, settings, tmp_path):
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "keys" / "lease.jwks.json"
    settings.PSEUDONYM_MASTER_KEYS = {"m1": "A" * 43}
    alice = UserFactory(username="alice", roles=["steward"])
    petra = UserFactory(username="petra", roles=["privacy_officer"])
    bob = UserFactory(username="bob", roles=["engineer"])
    make_purpose("churn-model", owner=alice, data_categories=["user"])
    dataset = make_dataset(
        alice,
        slug="churn-events",
        fields=FIELDS,
        location=str(DATA),
        subject_id_field="customer_id",
        subject_namespace="shop",
        event_time_field="event_time",
    )
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset)
    access.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug="churn-model")
    budget.budget_requirement_set(actor=alice, dataset=dataset, epsilon=3.0)
    account, secret = make_service_account(bob, name="churn-training")
    service_account_consent_grant(service_account=account, capabilities=["query"], actor=None)
    request = access.access_request_create(
        requester=bob,
        dataset=dataset,
        purpose_slug="churn-model",
        fields=list(FIELDS),
        duration_days=30,
        justification="Nightly churn model on the demo shop's customers.",
        principal="service_account:churn-training",
    )
    access.access_request_approve(actor=alice, request=request)
    request.refresh_from_db()
    access.grant_acknowledge(actor=bob, grant=request.grant)
    # consent: everyone in the file gave it, every tenth withdrew, the last ten never asked
    ids = [row["customer_id"] for row in csv.DictReader(DATA.open())]
    now = timezone.now()
    consent.consent_record_batch(
        events=[event(i, "given", purpose="churn-model", occurred_at=now) for i in ids[:-10]],
        actor=None,
    )
    withdrawn = ids[:-10:10]
    consent.consent_record_batch(
        events=[event(i, "withdrawn", purpose="churn-model", occurred_at=now) for i in withdrawn],
        actor=None,
    )
    kept = sorted(set(ids[:-10]) - set(withdrawn))
    connection.close()
    return {"url": live_server.url, "client_id": account.client_id, "secret": secret, "kept": kept}


def test_the_example_job_trains_through_the_registry(world, tmp_path):
    # when the example job runs as a training job would (its own process, the real token flow)
    out = tmp_path / "out"
    env = {
        **os.environ,
        "GOVERNANCE_URL": world["url"],
        "GOVERNANCE_CLIENT_ID": world["client_id"],
        "GOVERNANCE_CLIENT_SECRET": world["secret"],
    }
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_churn.py"), "--out", str(out), "--epsilon", "1.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # then only consenting subjects were used, with the fields as obligated
    assert metrics["rows_used"] == len(world["kept"]) == 531
    assert "phone" not in metrics["columns"]
    assert {"email", "age", "support_notes"} <= set(metrics["columns"])
    assert metrics["dp_releases"] == 5  # a count and four sums per class, ε split over them
    assert 0.0 <= metrics["training_accuracy"] <= 1.0  # noisy by design: not asserted further
    # and the manifest says so, with a lease that verifies offline
    manifest = json.loads((out / "governance-manifest.json").read_text())
    snapshot = ConsentSnapshot.objects.get(kind="decision")
    assert manifest["consent"]["snapshot"]["id"] == str(snapshot.pk)
    assert manifest["consent"]["subjects_kept"] == 531
    assert manifest["consent"]["subjects_kept_sha256"] == answer_digest(
        ("shop", i) for i in world["kept"]
    )
    assert manifest["budget"]["status"] == "committed"
    assert manifest["budget"]["epsilon"] == 1.0
    claim = BudgetClaim.objects.get(pk=manifest["budget"]["claim"])
    assert (claim.status, claim.decision_id) == ("committed", manifest["decision"]["decision_id"])
    trusted_keys = leases.jwks()  # kept outside the run, e.g. by the auditor
    claims = governance_client.verify_manifest(
        out / "governance-manifest.json", keyset=trusted_keys
    )
    assert claims["jti"] == manifest["decision"]["decision_id"]
    assert claims["aud"] == "governance-data-gateway"
    assert claims["lease"]["dataset"] == "churn-events"
    events = set(LedgerEntry.objects.values_list("event", flat=True))
    assert {
        "access.check",
        "consent.filtered",
        "access.pseudonym_key_issued",
        "access.budget_claim_acquired",
        "access.budget_claim_committed",
    } <= events


def test_the_client_applies_every_obligation_and_proves_the_subject_set(world, tmp_path):
    client = governance_client.Client(world["url"], world["client_id"], world["secret"])
    frame = pd.read_csv(DATA)
    with client.governed_read(
        "churn-events", "churn-model", frame, output_dir=tmp_path, epsilon=0.5
    ) as read:
        data = read.data
    assert sorted(data["customer_id"]) == world["kept"]
    assert "phone" not in data.columns
    # the e-mail is the purpose's token, the same the registry's own function gives
    key = pseudonyms.purpose_keys("churn-model")[0]
    source = frame.set_index("customer_id")
    first = data.iloc[0]
    assert first["email"] == pseudonyms.pseudonym(
        key.secret, key.version, source.loc[first["customer_id"], "email"]
    )
    assert set(data["age"] % 10) == {0}
    assert set(data["support_notes"].dropna()) <= {"***"}
    # streaming the export at the decision's snapshot gives every consenting subject and
    # seals the snapshot's count and hash
    decision = read.decision
    assert sorted(client.iter_consented(decision)) == world["kept"]
    snapshot = ConsentSnapshot.objects.get(pk=decision.consent_filter.snapshot.id)
    assert snapshot.count == 531
    assert snapshot.sha256 == answer_digest(("shop", i) for i in world["kept"])
    # a withdrawal after the decision does not change what the decision's snapshot says ...
    consent.consent_record_batch(
        events=[event(world["kept"][0], "withdrawn", purpose="churn-model")], actor=None
    )
    again = client.filter_subjects(decision, world["kept"][:3])
    assert again.kept == world["kept"][:3]
    # ... but the next decision names a new snapshot that excludes the subject
    later = client.check("churn-events", "churn-model")
    assert later.consent_filter.snapshot.id != decision.consent_filter.snapshot.id
    assert client.filter_subjects(later, world["kept"][:3]).kept == world["kept"][1:3]


def test_the_budget_is_refused_with_the_remainder_once_spent(world, tmp_path):
    client = governance_client.Client(world["url"], world["client_id"], world["secret"])
    frame = pd.read_csv(DATA)
    with client.governed_read(
        "churn-events", "churn-model", frame, output_dir=tmp_path, epsilon=2.5
    ):
        pass
    with pytest.raises(governance_client.BudgetExceeded) as refused:
        client.governed_read("churn-events", "churn-model", frame, output_dir=tmp_path, epsilon=1)
    assert refused.value.remaining == {"0": {"epsilon": 0.5, "delta": 0.0}}


def test_a_wrong_secret_and_a_dead_server_never_allow(world):
    wrong = governance_client.Client(world["url"], world["client_id"], "not-the-secret")
    with pytest.raises(governance_client.AuthenticationFailed):
        wrong.check("churn-events", "churn-model")
    dead = governance_client.Client(
        "http://127.0.0.1:9", world["client_id"], world["secret"], retries=2, backoff=0.01
    )
    with pytest.raises(governance_client.RegistryUnavailable):
        dead.check("churn-events", "churn-model")


def test_the_example_job_denied_says_what_the_registry_must_hold_and_writes_nothing(
    world, tmp_path
):
    # given a purpose the job holds no grant for (as against seed_demo's data today)
    out = tmp_path / "out"
    env = {
        **os.environ,
        "GOVERNANCE_URL": world["url"],
        "GOVERNANCE_CLIENT_ID": world["client_id"],
        "GOVERNANCE_CLIENT_SECRET": world["secret"],
    }
    # when
    completed = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_churn.py"),
            "--purpose",
            "shop-analytics",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    # then it exits non-zero with the deny and what is missing, and writes nothing
    assert completed.returncode == 1, completed.stderr
    assert "denied (purpose_unknown)" in completed.stderr
    assert "purpose 'shop-analytics' approved for it" in completed.stderr
    assert not out.exists()
    assert not BudgetClaim.objects.exists()
