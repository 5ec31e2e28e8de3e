"""What is due in a dataset: withdrawn subjects (latest state per consent-based purpose, across
purpose versions), the effective maximum age and cutoff, expiry, holds, problems, and the
operations a run performs. Planning reads only the registry, so no store is needed here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from consent import services as consent
from consent.identifiers import add_months
from datasets import services as catalog
from datasets.connectors import ANONYMIZE, DELETE, Criteria
from governance.access import services as access
from governance.access.models import PurposeApproval
from governance.retention import planning, services
from governance.retention.models import RetentionRun
from tests.consent.factories import advance, make_notice, make_purpose, record
from tests.datasets.factories import ANSWERS, make_dataset
from tests.retention.conftest import EVENT_FIELDS, set_policy

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _warehouse(settings):
    """Policies on PostgreSQL tables name a connection; planning never opens it."""
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://planner@127.0.0.1:1/none"}


def ago(**delta) -> datetime:
    return timezone.now() - timedelta(**delta)


def due(dataset) -> dict[str, datetime]:
    return planning.plan_for(dataset).withdrawn


def _approve(dataset, slug, petra):
    access.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug=slug)


def _second_consent_purpose(alice, petra, dataset, slug="upsell"):
    make_purpose(slug, owner=alice, data_categories=["user.unique_id", "user.contact"])
    _approve(dataset, slug, petra)


def _new_version(purpose, *, retention_days=None):
    """Version + 1 of ``purpose``, activated now (which retires the version in force)."""
    draft = consent.purpose_new_version(purpose=purpose, actor=None)
    if retention_days is not None:
        draft = consent.purpose_update(purpose=draft, actor=None, retention_days=retention_days)
    make_notice(draft, text=f"Notice for {purpose.slug} v{draft.version}.")
    return advance(draft, "active", activated_at=timezone.now())


def _other_dataset(alice, petra, *, slug="shop-orders", purposes=("churn-model",), **extra):
    dataset = make_dataset(
        alice,
        slug=slug,
        fields=EVENT_FIELDS,
        storage_kind="postgres_table",
        location=f"shop.{slug.replace('-', '_')}",
        connection="warehouse",
        **extra,
    )
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    for purpose in purposes:
        _approve(dataset, purpose, petra)
    dataset.refresh_from_db()
    return dataset


# --- withdrawn subjects -----------------------------------------------------------------------


def test_a_subject_who_withdrew_is_due_since_the_moment_of_withdrawal(events_dataset, alice):
    # given c-1 and c-2 consented; c-1 withdrew at a known moment
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    withdrawn_at = ago(days=3, hours=2)
    for subject in ("c-1", "c-2"):
        record(subject, "given", occurred_at=ago(days=200))
    record("c-1", "withdrawn", occurred_at=withdrawn_at)
    # when
    plan = planning.plan_for(events_dataset)
    # then
    assert plan.withdrawn == {"c-1": withdrawn_at}
    assert plan.subject_ids == {"c-1"}
    assert plan.problems == []


@pytest.mark.parametrize("status", ["withdrawn", "revoked", "refused", "invalidated", "expired"])
def test_every_ending_status_makes_the_subject_due_since_it_occurred(events_dataset, alice, status):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    ended_at = ago(days=5)
    record("c-1", "given", occurred_at=ago(days=100))
    record("c-1", status, occurred_at=ended_at)
    # when / then
    assert due(events_dataset) == {"c-1": ended_at}


def test_consent_that_lapsed_by_its_validity_is_due_since_it_lapsed(events_dataset, alice):
    # given c-1 consented 25 months ago (valid for 24 months); c-2 consented with an expiry
    # the source set five days ago; c-3 consented last month
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    given_at = ago(days=1)
    given_at = add_months(given_at, -25)
    record("c-1", "given", occurred_at=given_at)
    source_expiry = ago(days=5)
    record("c-2", "given", occurred_at=ago(days=40), expires_at=source_expiry)
    record("c-3", "given", occurred_at=ago(days=30))
    # when
    withdrawn = due(events_dataset)
    # then
    assert withdrawn == {"c-1": add_months(given_at, 24), "c-2": source_expiry}


def test_consent_still_valid_at_the_moment_asked_about_is_not_due_until_it_lapses(
    events_dataset, alice
):
    # given consent valid for 24 months from a known moment
    given = record("c-1", "given", occurred_at=ago(days=10))
    # when / then
    ask = planning.withdrawn_subjects
    assert ask(slugs=["churn-model"], namespace="shop", at=given.valid_until) == {
        "c-1": given.valid_until
    }
    before = given.valid_until - timedelta(seconds=1)
    assert ask(slugs=["churn-model"], namespace="shop", at=before) == {}


def test_a_subject_still_valid_for_one_of_two_consent_purposes_is_not_due(
    events_dataset, alice, petra
):
    # given the dataset serves churn-model and upsell; c-1 withdrew from churn-model only,
    # c-2 from both
    _second_consent_purpose(alice, petra, events_dataset)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    for subject in ("c-1", "c-2"):
        for purpose in ("churn-model", "upsell"):
            record(subject, "given", purpose=purpose, occurred_at=ago(days=90))
    record("c-1", "withdrawn", occurred_at=ago(days=4))
    first, last = ago(days=6), ago(days=2)
    record("c-2", "withdrawn", occurred_at=last)
    record("c-2", "withdrawn", purpose="upsell", occurred_at=first)
    # when / then c-2 is due from the moment the last of its consents ended
    assert due(events_dataset) == {"c-2": last}


def test_a_record_for_only_one_of_the_purposes_is_enough(events_dataset, alice, petra):
    # given the dataset serves two consent purposes; c-1 only ever had churn-model
    _second_consent_purpose(alice, petra, events_dataset)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    record("c-1", "given", occurred_at=ago(days=90))
    withdrawn_at = ago(days=1)
    record("c-1", "withdrawn", occurred_at=withdrawn_at)
    # when / then
    assert due(events_dataset) == {"c-1": withdrawn_at}


def test_consent_given_again_after_a_withdrawal_is_not_due(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    record("c-1", "given", occurred_at=ago(days=90))
    record("c-1", "withdrawn", occurred_at=ago(days=10))
    record("c-1", "given", occurred_at=ago(days=2))
    # when / then
    assert due(events_dataset) == {}


def test_a_late_arriving_older_grant_does_not_undo_a_withdrawal(events_dataset, alice):
    # given the withdrawal is recorded before a grant that happened earlier
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    withdrawn_at = ago(days=2)
    record("c-1", "withdrawn", occurred_at=withdrawn_at)
    record("c-1", "given", occurred_at=ago(days=9))
    # when / then
    assert due(events_dataset) == {"c-1": withdrawn_at}


def test_subjects_with_only_a_requested_state_are_not_due(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    record("c-1", "requested", occurred_at=ago(days=3))
    record("c-2", "unknown", occurred_at=ago(days=3))
    # when / then
    assert due(events_dataset) == {}


def test_consent_given_on_a_previous_version_still_counts_when_a_new_version_is_active(
    events_dataset, alice, churn
):
    # given c-1 consented to v1; v2 is now active and c-1 has no event on it
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    record("c-1", "given", occurred_at=ago(days=30))
    _new_version(churn)
    # when
    plan = planning.plan_for(events_dataset)
    # then
    assert [(b.slug, b.version) for b in plan.bounds] == [("churn-model", 2)]
    assert plan.withdrawn == {}


def test_a_withdrawal_on_a_previous_version_counts_when_a_new_version_is_active(
    events_dataset, alice, churn
):
    # given c-1 withdrew on v1; v2 is active since, with no event of c-1 on it
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    record("c-1", "given", occurred_at=ago(days=30))
    withdrawn_at = ago(days=20)
    record("c-1", "withdrawn", occurred_at=withdrawn_at)
    _new_version(churn)
    # when / then
    assert due(events_dataset) == {"c-1": withdrawn_at}


def test_the_latest_state_across_versions_wins(events_dataset, alice, churn):
    # given c-1 consented on v1 and withdrew on v2; c-2 withdrew on v1 and consented on v2
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    record("c-1", "given", occurred_at=ago(days=30))
    record("c-2", "given", occurred_at=ago(days=30))
    record("c-2", "withdrawn", occurred_at=ago(days=20))
    _new_version(churn)
    withdrawn_at = ago(hours=3)
    record("c-1", "withdrawn", occurred_at=withdrawn_at)
    record("c-2", "given", occurred_at=ago(hours=2))
    # when / then
    assert due(events_dataset) == {"c-1": withdrawn_at}


def test_a_purpose_under_another_legal_basis_never_causes_erasure(events_dataset, alice, petra):
    # given the dataset no longer serves churn-model, only fraud-detection (legitimate
    # interests); c-1 withdrew from churn-model
    make_purpose(
        "fraud-detection",
        owner=alice,
        legal_basis="legitimate_interests",
        data_categories=["user.unique_id", "user.contact"],
        retention_days=90,
    )
    _approve(events_dataset, "fraud-detection", petra)
    approval = PurposeApproval.objects.get(dataset=events_dataset, purpose_slug="churn-model")
    access.purpose_approval_revoke(actor=petra, approval=approval, reason="Model retired.")
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    record("c-1", "given", occurred_at=ago(days=30))
    record("c-1", "withdrawn", occurred_at=ago(days=2))
    # when
    plan = planning.plan_for(events_dataset)
    # then
    assert plan.bounds == [
        planning.PurposeBound(
            slug="fraud-detection",
            version=1,
            name="Train the churn model",
            retention_days=90,
            consent_based=False,
        )
    ]
    assert plan.withdrawn == {}
    assert (plan.max_age_days, plan.max_age_source) == (90, "purpose fraud-detection v1")


def test_a_revoked_purpose_approval_does_not_count(events_dataset, alice, petra):
    # given c-1 withdrew from churn-model, whose approval for the dataset was revoked
    set_policy(dataset=events_dataset, actor=alice, max_age_days=400)
    record("c-1", "given", occurred_at=ago(days=30))
    record("c-1", "withdrawn", occurred_at=ago(days=2))
    approval = PurposeApproval.objects.get(dataset=events_dataset, purpose_slug="churn-model")
    access.purpose_approval_revoke(actor=petra, approval=approval, reason="Model retired.")
    # when
    plan = planning.plan_for(events_dataset)
    # then neither the withdrawal nor the purpose's retention period applies
    assert plan.bounds == []
    assert plan.withdrawn == {}
    assert (plan.max_age_days, plan.max_age_source) == (400, "the dataset's policy")


def test_namespaces_are_separate(events_dataset, alice):
    # given c-1 withdrew in the crm namespace, c-2 in shop; the policy reads shop
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180, subject_namespace="shop")
    for namespace, subject in (("crm", "c-1"), ("shop", "c-2"), ("crm", "c-2")):
        record(subject, "given", namespace=namespace, occurred_at=ago(days=30))
    crm_withdrawal, shop_withdrawal = ago(days=3), ago(days=2)
    record("c-1", "withdrawn", namespace="crm", occurred_at=crm_withdrawal)
    record("c-2", "withdrawn", namespace="shop", occurred_at=shop_withdrawal)
    # when / then
    assert due(events_dataset) == {"c-2": shop_withdrawal}
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180, subject_namespace="crm")
    assert due(events_dataset) == {"c-1": crm_withdrawal}


# --- age, grace and expiry --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy_days", "effective", "source"),
    [
        (600, 365, "purpose churn-model v1"),
        (100, 100, "the dataset's policy"),
        (None, 365, "purpose churn-model v1"),
    ],
)
def test_the_effective_maximum_age_is_the_shortest_of_policy_and_purposes(
    events_dataset, alice, policy_days, effective, source
):
    # given
    set_policy(
        dataset=events_dataset,
        actor=alice,
        max_age_days=policy_days,
        expires_on=None if policy_days else date(2030, 1, 1),
    )
    # when
    plan = planning.plan_for(events_dataset, now=T)
    # then
    assert (plan.max_age_days, plan.max_age_source) == (effective, source)
    assert plan.cutoff == T - timedelta(days=effective)


def test_a_new_purpose_version_with_a_shorter_retention_period_takes_over(
    events_dataset, alice, churn
):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=300)
    _new_version(churn, retention_days=200)
    # when
    plan = planning.plan_for(events_dataset)
    # then
    assert (plan.max_age_days, plan.max_age_source) == (200, "purpose churn-model v2")


def test_the_grace_period_moves_the_cutoff_back(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30, grace_days=7)
    # when
    plan = planning.plan_for(events_dataset, now=T)
    # then
    assert plan.cutoff == T - timedelta(days=37)
    assert plan.max_age_days == 30


def test_a_dataset_expires_at_midnight_utc_of_its_expiry_date_plus_the_grace_period(
    events_dataset, alice
):
    # given a policy set in February (an expiry date in the past is refused)
    with time_machine.travel(datetime(2026, 2, 1, tzinfo=UTC), tick=False):
        set_policy(dataset=events_dataset, actor=alice, expires_on=date(2026, 3, 1), grace_days=2)
    expires_at = datetime(2026, 3, 3, tzinfo=UTC)
    # when
    before = planning.plan_for(events_dataset, now=expires_at - timedelta(seconds=1))
    at = planning.plan_for(events_dataset, now=expires_at)
    # then
    assert (before.expires_at, before.expired) == (expires_at, False)
    assert (at.expires_at, at.expired) == (expires_at, True)
    assert at.operations("retention") == [
        (
            DELETE,
            Criteria(older_than=at.cutoff, everything=True),
        )
    ]
    assert at.operations("erasure") == []


# --- problems ---------------------------------------------------------------------------------


def test_an_age_without_an_event_time_field_is_a_problem(events_dataset, alice, petra):
    # given shop-orders names no event-time field and serves churn-model (365 days)
    orders = _other_dataset(alice, petra, subject_id_field="customer_id")
    set_policy(dataset=orders, actor=alice, expires_on=date(2030, 1, 1))
    # when
    plan = planning.plan_for(orders)
    # then
    assert plan.problems == [
        planning.MSG_NEEDS_EVENT_TIME.format(days=365, source="purpose churn-model v1")
    ]
    assert plan.cutoff is None
    assert plan.max_age_days == 365
    assert plan.problems_for("retention") == plan.problems
    assert plan.problems_for("erasure") == []


def test_subjects_due_without_a_subject_id_field_are_a_warning_and_age_still_applies(
    events_dataset, alice, petra
):
    # given shop-orders names no subject-id field; c-1 and c-2 withdrew
    orders = _other_dataset(alice, petra, event_time_field="event_time")
    set_policy(dataset=orders, actor=alice, max_age_days=30)
    for subject in ("c-1", "c-2"):
        record(subject, "given", occurred_at=ago(days=30))
        record(subject, "withdrawn", occurred_at=ago(days=1))
    # when
    plan = planning.plan_for(orders)
    # then
    assert plan.problems == []
    assert plan.warnings == [planning.MSG_NEEDS_SUBJECT_FIELD.format(count=2)]
    assert plan.subject_ids == set()
    assert [operation for operation, _ in plan.operations("retention")] == [DELETE]
    assert plan.operations("erasure") == []


def test_no_policy_and_a_disabled_policy_are_problems(events_dataset, alice):
    # given / when / then
    assert planning.plan_for(events_dataset).problems == [planning.MSG_NO_POLICY]
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30, enabled=False)
    assert planning.plan_for(events_dataset).problems == [planning.MSG_POLICY_DISABLED]


# --- holds and erasure requests ---------------------------------------------------------------


def test_dataset_holds_and_subject_holds_go_into_the_plan(events_dataset, alice, petra):
    # given a dataset hold, a subject hold everywhere (c-1), a subject hold in this dataset
    # (c-2), and holds that do not apply: another dataset (c-3), another namespace (c-4),
    # released (c-5)
    orders = _other_dataset(alice, petra, subject_id_field="customer_id")
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    for subject in ("c-1", "c-2", "c-3", "c-4", "c-5", "c-6"):
        record(subject, "given", occurred_at=ago(days=30))
        record(subject, "withdrawn", occurred_at=ago(days=1))
    hold = services.hold_place
    on_dataset = hold(actor=petra, dataset=events_dataset, reason="Regulator inquiry")
    everywhere = hold(actor=petra, namespace="shop", external_id="c-1", reason="Litigation A")
    here = hold(
        actor=petra, dataset=events_dataset, namespace="shop", external_id="c-2", reason="B"
    )
    hold(actor=petra, dataset=orders, namespace="shop", external_id="c-3", reason="C")
    hold(actor=petra, namespace="crm", external_id="c-4", reason="D")
    released = hold(actor=petra, namespace="shop", external_id="c-5", reason="E")
    services.hold_release(hold_id=released.pk, actor=petra, reason="Settled.")
    # when
    plan = planning.plan_for(events_dataset)
    # then
    assert plan.dataset_holds == [on_dataset]
    assert plan.is_held is True
    assert sorted(h.pk for h in plan.subject_holds) == sorted([everywhere.pk, here.pk])
    assert plan.held_subjects == {"c-1", "c-2"}
    assert plan.subject_ids == {"c-3", "c-4", "c-5", "c-6"}
    assert plan.operations("erasure") == [
        (
            DELETE,
            Criteria(
                subject_ids=frozenset({"c-3", "c-4", "c-5", "c-6"}),
                keep_subject_ids=frozenset({"c-1", "c-2"}),
            ),
        )
    ]


def test_open_erasure_requests_naming_the_dataset_are_in_the_plan(events_dataset, alice, petra):
    # given two requests for c-9 and one for c-8, which is then rejected
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    today = timezone.now().date()
    first = services.erasure_request_create(
        actor=petra, external_id="c-9", namespace="shop", received_on=today
    )
    second = services.erasure_request_create(
        actor=petra, external_id="c-9", namespace="shop", received_on=today
    )
    rejected = services.erasure_request_create(
        actor=petra, external_id="c-8", namespace="shop", received_on=today
    )
    services.erasure_request_reject(request_id=rejected.pk, actor=petra, reason="Art. 17(3)(e)")
    # when
    plan = planning.plan_for(events_dataset)
    # then
    assert plan.requested == {"c-9": [first.pk, second.pk]}
    assert plan.subject_ids == {"c-9"}


def test_the_erasure_deadline_runs_from_the_earliest_withdrawal_not_yet_covered(
    events_dataset, alice, settings
):
    # given
    settings.RETENTION_ERASURE_DEADLINE_DAYS = 30
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    earliest = ago(days=6)
    for subject, moment in (("c-1", earliest), ("c-2", ago(days=2))):
        record(subject, "given", occurred_at=ago(days=30))
        record(subject, "withdrawn", occurred_at=moment)
    # when / then
    assert planning.plan_for(events_dataset).erasure_due_by == earliest + timedelta(days=30)


# --- operations -------------------------------------------------------------------------------

CUTOFF = datetime(2025, 9, 1, tzinfo=UTC)


def test_delete_covers_age_and_subjects_in_one_operation():
    assert planning.operations_for(
        action="delete", cutoff=CUTOFF, everything=False, subjects={"c-1"}, keep={"c-2"}
    ) == [
        (
            DELETE,
            Criteria(
                older_than=CUTOFF,
                subject_ids=frozenset({"c-1"}),
                keep_subject_ids=frozenset({"c-2"}),
            ),
        )
    ]


def test_anonymize_deletes_the_subjects_and_anonymises_the_old_rows():
    assert planning.operations_for(
        action="anonymize", cutoff=CUTOFF, everything=False, subjects={"c-1"}, keep={"c-2"}
    ) == [
        (
            DELETE,
            Criteria(subject_ids=frozenset({"c-1"}), keep_subject_ids=frozenset({"c-2"})),
        ),
        (ANONYMIZE, Criteria(older_than=CUTOFF, keep_subject_ids=frozenset({"c-2"}))),
    ]


def test_anonymize_without_subjects_only_anonymises():
    assert planning.operations_for(
        action="anonymize", cutoff=CUTOFF, everything=False, subjects=set(), keep=set()
    ) == [(ANONYMIZE, Criteria(older_than=CUTOFF))]


def test_an_expired_dataset_is_deleted_whole_even_when_the_policy_anonymises():
    assert planning.operations_for(
        action="anonymize", cutoff=CUTOFF, everything=True, subjects={"c-1"}, keep={"c-2"}
    ) == [
        (
            DELETE,
            Criteria(
                older_than=CUTOFF,
                subject_ids=frozenset({"c-1"}),
                everything=True,
                keep_subject_ids=frozenset({"c-2"}),
            ),
        )
    ]


def test_nothing_to_do_is_no_operation():
    for action in ("delete", "anonymize"):
        assert (
            planning.operations_for(
                action=action, cutoff=None, everything=False, subjects=set(), keep={"c-2"}
            )
            == []
        )


def test_an_erasure_run_ignores_age_and_expiry(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30, action="anonymize")
    record("c-1", "given", occurred_at=ago(days=30))
    record("c-1", "withdrawn", occurred_at=ago(days=1))
    plan = planning.plan_for(events_dataset, now=T)
    # when / then
    assert plan.operations(RetentionRun.Kind.ERASURE) == [
        (DELETE, Criteria(subject_ids=frozenset({"c-1"})))
    ]
    assert plan.operations(RetentionRun.Kind.RETENTION) == [
        (DELETE, Criteria(subject_ids=frozenset({"c-1"}))),
        (ANONYMIZE, Criteria(older_than=T - timedelta(days=30))),
    ]


def test_the_subjects_digest_is_sha256_over_the_sorted_ids_one_per_line():
    import hashlib

    assert planning.subjects_digest({"c-2", "c-10", "c-1"}) == (
        hashlib.sha256(b"c-1\nc-10\nc-2\n").hexdigest()
    )
    assert planning.subjects_digest([]) == hashlib.sha256(b"").hexdigest()
