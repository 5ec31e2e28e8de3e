"""One small, complete world for the authorization matrix: every object an operation can name,
and one principal per column of the matrix.

Columns (see matrix.txt):
  anon   nobody signed in / no token
  eng    bob, an ML engineer
  stw    alice, steward of tickets, drafty and in-review (the datasets the rows act on)
  ostw   carol, steward of carols only
  fstw   fred, steward of tickets until the steward role was taken from him (now engineer)
  po     petra, privacy officer
  aud    audrey, auditor
  adm    ada, administrator
  job    service account "router-job" (owner bob) with an acknowledged grant on tickets, and
         the consent query capability (a training job)
  jobx   service account "source-job" (owner bob) without any grant, with the consent record
         capability (a source system)
  orph   service account "orphan-job" with a grant on tickets, whose owner olive left
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from consent import services as consent
from consent.services.grants import service_account_consent_grant
from datasets import services as catalog
from datasets.models import DataCategory, Field, Scan, Suggestion
from governance.access import services as access
from governance.access.models import Alert
from governance.access.services import budget
from governance.accounts.models import User
from governance.accounts.services import user_deactivate, user_roles_set
from governance.audit.models import LedgerEntry
from governance.compliance import services as compliance
from governance.registers import services as registers
from governance.retention import runner
from governance.retention import services as retention
from governance.subject_access import services as subject_access
from tests.accounts.factories import UserFactory, make_service_account
from tests.consent.factories import event, make_purpose
from tests.datasets.factories import ANSWERS, make_dataset
from tests.test_api_shell import _token_for

COLUMNS = ("anon", "eng", "stw", "ostw", "fstw", "po", "aud", "adm", "job", "jobx", "orph")
SERVICE_COLUMNS = ("job", "jobx", "orph")

FIELDS = {
    "customer_id": ("user.unique_id.pseudonymous", "quasi_identifier", "", "keep"),
    "email": ("user.contact.email", "direct_identifier", "", "drop"),
    "event_time": (None, "non_personal", "", "keep"),
}


@dataclass
class World:
    people: dict[str, User] = field(default_factory=dict)  # column -> person
    tokens: dict[str, str] = field(default_factory=dict)  # column -> bearer token
    ids: dict[str, object] = field(default_factory=dict)  # placeholder -> value


def build(tmp_path: Path, settings) -> World:
    world = World()
    settings.RETENTION_FILE_ROOTS = [tmp_path.resolve()]
    settings.SCANNER_FILE_ROOTS = [tmp_path.resolve()]
    settings.COMPLIANCE_EXPORT_DIR = tmp_path / "exports"
    settings.SUBJECT_ACCESS_DIR = tmp_path / "subject-access"
    ada = UserFactory(username="ada", roles=["admin"])
    alice = UserFactory(username="alice", roles=["steward"])
    fred = UserFactory(username="fred", roles=["steward"])
    carol = UserFactory(username="carol", roles=["steward"])
    bob = UserFactory(username="bob", roles=["engineer"])
    petra = UserFactory(username="petra", roles=["privacy_officer"])
    paula = UserFactory(username="paula", roles=["privacy_officer"])
    audrey = UserFactory(username="audrey", roles=["auditor"])
    olive = UserFactory(username="olive", roles=["engineer"])
    world.people = {
        "eng": bob,
        "stw": alice,
        "ostw": carol,
        "fstw": fred,
        "po": petra,
        "aud": audrey,
        "adm": ada,
    }

    # purposes: two active, one awaiting activation, one draft
    make_purpose(
        "routing",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.unique_id", "user.contact"],
    )
    make_purpose("churn", owner=alice, data_categories=["user.unique_id", "user.contact"])
    make_purpose("pending-purpose", status="submitted", owner=alice)
    make_purpose("drafty-purpose", status="draft", owner=alice)

    # datasets: tickets (approved, CSV files, stewards alice and fred), drafty (draft),
    # in-review, carols (carol's)
    folder = tmp_path / "tickets"
    folder.mkdir()
    old = (timezone.now() - timedelta(days=400)).isoformat()
    (folder / "part.csv").write_text(
        "customer_id,email,event_time\n"
        + "".join(f"c-{i},c-{i}@example.com,{old}\n" for i in range(5))
    )
    tickets = make_dataset(
        alice,
        slug="tickets",
        fields=FIELDS,
        storage_kind="csv",
        location=str(folder),
        subject_id_field="customer_id",
        event_time_field="event_time",
    )
    catalog.dataset_stewards_set(actor=alice, dataset=tickets, stewards=[alice, fred])
    catalog.dataset_submit(actor=alice, dataset=tickets, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=tickets, note="Checked as described.")
    for purpose in ("routing", "churn"):
        access.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug=purpose)
    drafty = make_dataset(alice, slug="drafty", fields={"id": (None, "non_personal", "", "keep")})
    review = make_dataset(
        alice, slug="in-review", fields={"id": (None, "non_personal", "", "keep")}
    )
    catalog.dataset_submit(actor=alice, dataset=review, **ANSWERS)
    carols = make_dataset(carol, slug="carols", fields={"id": (None, "non_personal", "", "keep")})
    catalog.dataset_submit(actor=carol, dataset=carols, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=carols, note="Checked as described.")

    # a scan of drafty with one suggestion waiting
    scan = Scan.objects.create(
        dataset=drafty,
        source_kind=Scan.SourceKind.UPLOAD,
        max_rows=10,
        status=Scan.Status.SUCCEEDED,
        progress=100,
        started_by=alice,
    )
    suggestion = Suggestion.objects.create(
        scan=scan,
        field=Field.objects.get(dataset=drafty, name="id"),
        category=DataCategory.objects.get(key="user.unique_id"),
        role="quasi_identifier",
        treatment="pseudonymize",
        confidence=Decimal("0.80"),
        evidence="e" * 16,
    )

    # service accounts and grants
    job, _ = make_service_account(bob, name="router-job")
    jobx, _ = make_service_account(bob, name="source-job")
    orphan, _ = make_service_account(olive, name="orphan-job")
    service_account_consent_grant(service_account=job, capabilities=["query"], actor=None)
    service_account_consent_grant(service_account=jobx, capabilities=["record"], actor=None)
    grants = {}
    for account, owner in ((job, bob), (orphan, olive)):
        request = access.access_request_create(
            requester=owner,
            dataset=tickets,
            purpose_slug="routing",
            fields=["customer_id", "email"],
            duration_days=30,
            justification="Nightly retraining of the router model.",
            principal=f"service_account:{account.name}",
        )
        access.access_request_approve(actor=alice, request=request)
        request.refresh_from_db()
        access.grant_acknowledge(actor=owner, grant=request.grant)
        grants[account.name] = request.grant
    # a pending request of bob's, for himself
    pending = access.access_request_create(
        requester=bob,
        dataset=tickets,
        purpose_slug="routing",
        fields=["email"],
        duration_days=10,
        justification="Look at routing errors by sender domain.",
    )
    user_deactivate(user=olive, actor=ada, reason="left the company")
    # fred loses the steward role (his stewardship of tickets ends with it)
    user_roles_set(user=fred, roles=["engineer"], actor=ada)
    world.tokens = {
        "job": _token_for(job),
        "jobx": _token_for(jobx),
        "orph": _token_for(orphan),
    }

    # consent: c-1 gave consent to churn; a snapshot of a filter answer
    consent.consent_record_batch(
        events=[event("c-1", "given", purpose="churn", occurred_at=timezone.now())], actor=None
    )
    snapshot = consent.consent_filter(
        purpose="churn", subject_ids=["c-1"], actor=petra, namespace="shop"
    ).snapshot

    # a privacy budget on tickets, and a locked claim of the router job's on it
    budget.budget_requirement_set(actor=alice, dataset=tickets, epsilon=1.0)
    claim = budget.budget_claim_acquire(
        actor=job.user, dataset_slug="tickets", purpose_slug="routing", epsilon=0.1
    )

    # retention: a policy, a finished run with its certificate, a hold, an erasure request
    retention.policy_set(dataset=tickets, actor=alice, max_age_days=3650, subject_namespace="shop")
    run = runner.run_execute(run_id=retention.run_start(dataset=tickets, actor=alice).pk)
    hold = retention.hold_place(
        actor=petra, reason="Litigation", namespace="shop", external_id="c-4", reference="L-1"
    )
    erasure = retention.erasure_request_create(
        actor=petra,
        external_id="c-3",
        namespace="shop",
        received_on=date.today(),
        datasets=[tickets],
    )

    # an export built and ready, an alert naming tickets, and a training form's person
    export = compliance.export_request(
        actor=audrey,
        kind="access_report",
        start=timezone.now() - timedelta(days=1),
        end=timezone.now() + timedelta(minutes=1),
    )
    compliance.export_run(export_id=export.pk)
    now = timezone.now()
    alert = Alert.objects.create(
        rule=Alert.Rule.REPEATED_DENIALS,
        principal="user:bob",
        dataset="tickets",
        severity=Alert.Severity.MEDIUM,
        summary="Repeated denials.",
        window_start=now - timedelta(hours=1),
        window_end=now,
    )

    # the registers, each entry concerning tickets (through routing, approved for it), and a
    # subject access request of c-1 with its package produced
    recipient = registers.recipient_create(
        actor=petra,
        name="Acme Cloud Ltd",
        role="processor",
        country="US",
        purposes=["routing"],
        contract_reference="DPA-1",
    )
    transfer = registers.transfer_create(
        actor=petra, recipient=recipient, country="US", safeguard="scc", purposes=["routing"]
    )
    dpia = registers.dpia_create(
        actor=petra, reference="DPIA-W", title="Routing", purposes=["routing"], datasets=["tickets"]
    )
    lia = registers.lia_create(
        actor=petra,
        purpose="routing",
        reference="LIA-W",
        interest="Answer faster.",
        necessity="Routing needs the text.",
        balancing="Expected by customers.",
        outcome="passed",
        assessed_on=date(2026, 1, 1),
    )
    breach = registers.breach_create(
        actor=petra,
        reference="BR-W",
        title="Misdirected export",
        description="A file went to the wrong partner.",
        became_aware_at=timezone.now() - timedelta(hours=2),
        confidentiality=True,
        risk="risk",
        datasets=["tickets"],
    )
    registers.processing_record_set(actor=petra, purpose="routing", security_measures="TLS.")
    sar = subject_access.subject_access_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-1",
        received_on=date.today(),
        identity_verification="Matched the customer account.",
    )
    subject_access.subject_access_produce(actor=petra, request=sar)
    # a service account bob asked an administrator for
    from governance.accounts.services import service_account_request_create

    sa_request = service_account_request_create(
        actor=bob, name="bobs-next-job", description="Trains the next ticket router model."
    )

    # What "Run now" shows for tickets (the run form posts back what was confirmed).
    shown = retention.retention_preview(dataset=tickets, viewer=alice, kind="retention")

    world.ids = {
        "RUN_ROWS": shown["totals"]["rows"],
        "RUN_FILES": shown["totals"]["files"],
        "RUN_FINGERPRINT": shown["fingerprint"],
        "SAREQ": sa_request.pk,
        "D": tickets.slug,
        "DRAFT": drafty.slug,
        "REVIEW": review.slug,
        "OTHER": carols.slug,
        "SCAN": scan.pk,
        "SUGGESTION": suggestion.pk,
        "REQUEST": pending.pk,
        "GRANT": grants["router-job"].pk,
        "APPROVAL": tickets.purpose_approvals.get(purpose_slug="churn").pk,
        "RUN": run.pk,
        "HOLD": hold.pk,
        "ERASURE": erasure.pk,
        "EXPORT": export.pk,
        "ALERT": alert.pk,
        "SNAPSHOT": snapshot.pk,
        "RECIPIENT": recipient.pk,
        "TRANSFER": transfer.pk,
        "DPIA": dpia.pk,
        "LIA": lia.pk,
        "BREACH": breach.pk,
        "SAR": sar.pk,
        "CLAIM": claim.pk,
        "ENTRY": LedgerEntry.objects.order_by("id").values_list("pk", flat=True).first(),
        "PAULA": paula.username,
        "SOON": (timezone.now() + timedelta(days=10)).isoformat(),
    }
    return world
