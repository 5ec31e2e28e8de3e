"""The retention services: policies (validation, who may set them, the ledger), legal holds,
erasure requests and their deadlines, starting runs, and the dry run against a real store."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from consent.identifiers import MSG_NAMESPACE_FORMAT, MSG_SUBJECT_EMAIL, MSG_SUBJECT_PHONE
from datasets.models import Dataset
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, Conflict, NotFound, NotPermitted
from governance.retention import runner, services
from governance.retention.models import (
    ErasureRequest,
    ErasureTarget,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)
from tests.accounts.factories import UserFactory
from tests.datasets.factories import make_dataset
from tests.retention.conftest import EVENT_FIELDS, give_consent, set_policy, withdraw

pytestmark = pytest.mark.django_db

FAR = date(2030, 1, 1)


@pytest.fixture(autouse=True)
def _warehouse(settings):
    """Policies on PostgreSQL tables name a connection (the store fixture points it at a real
    database where a test needs one)."""
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://planner@127.0.0.1:1/none"}


@pytest.fixture
def sam(db):
    """A steward of another dataset."""
    steward = UserFactory(username="sam", roles=["steward"])
    make_dataset(steward, slug="sams-data", storage_kind="csv", location="/data/sam.csv")
    return steward


def events(name: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(event=name).order_by("id"))


def sha(namespace: str, external_id: str) -> str:
    return hashlib.sha256(f"{namespace}:{external_id}".encode()).hexdigest()


def ledger_text() -> str:
    return json.dumps(
        list(LedgerEntry.objects.values("event", "object_repr", "additional_data")), default=str
    )


def csv_dataset(steward, slug, **extra) -> Dataset:
    extra.setdefault("location", f"/data/{slug}.csv")
    return make_dataset(steward, slug=slug, fields=EVENT_FIELDS, storage_kind="csv", **extra)


# --- policies: validation ---------------------------------------------------------------------


def _no_purpose_table(alice) -> Dataset:
    return make_dataset(
        alice,
        slug="raw-clicks",
        fields=EVENT_FIELDS,
        storage_kind="postgres_table",
        location="shop.clicks",
        event_time_field="event_time",
    )


def _other_kind(alice) -> Dataset:
    return make_dataset(alice, slug="mainframe", storage_kind="other", location="VSAM.FILE")


def _no_location(alice) -> Dataset:
    return make_dataset(alice, slug="loose-file", fields=EVENT_FIELDS, storage_kind="csv")


def _no_identifiers(alice) -> Dataset:
    return make_dataset(
        alice,
        slug="amounts",
        fields={"amount": (None, "non_personal", "", "keep")},
        storage_kind="csv",
        location="/data/amounts.csv",
    )


def _no_event_time(alice) -> Dataset:
    return csv_dataset(alice, "no-clock", subject_id_field="customer_id")


@pytest.mark.parametrize(
    ("make", "fields", "field", "message"),
    [
        (None, {"max_age_days": 0}, "max_age_days", services.MSG_MAX_AGE),
        (None, {"max_age_days": -5}, "max_age_days", services.MSG_MAX_AGE),
        (None, {"max_age_days": "30"}, "max_age_days", services.MSG_MAX_AGE),
        (None, {"max_age_days": 30, "grace_days": -1}, "grace_days", services.MSG_GRACE),
        (None, {"max_age_days": 30, "grace_days": 3651}, "grace_days", services.MSG_GRACE),
        (None, {"max_age_days": 30, "action": "shred"}, "action", services.MSG_BAD_ACTION),
        (
            None,
            {"max_age_days": 30, "connection": "lake"},
            "connection",
            services.MSG_CONNECTION_IS_CATALOG.format(current="warehouse"),
        ),
        (
            None,
            {"max_age_days": 30, "subject_namespace": "Shop!"},
            "subject_namespace",
            MSG_NAMESPACE_FORMAT,
        ),
        (
            _no_purpose_table,
            {"max_age_days": None},
            "max_age_days",
            services.MSG_NOTHING_TO_ENFORCE,
        ),
        (
            _no_event_time,
            {"max_age_days": 30},
            "max_age_days",
            services.MSG_NEEDS_EVENT_TIME,
        ),
        (
            _other_kind,
            {"expires_on": FAR},
            "storage_kind",
            services.MSG_NO_CONNECTOR.format(kind="other"),
        ),
        (_no_location, {"expires_on": FAR}, "location", services.MSG_NO_LOCATION),
        (
            _no_identifiers,
            {"expires_on": FAR, "action": "anonymize"},
            "action",
            services.MSG_ANONYMIZE_NEEDS_FIELDS,
        ),
    ],
)
def test_a_policy_that_cannot_be_enforced_is_refused_with_its_reason(
    events_dataset, alice, make, fields, field, message
):
    # given
    dataset = make(alice) if make else events_dataset
    # when
    with pytest.raises(ApplicationError) as raised:
        set_policy(dataset=dataset, actor=alice, **fields)
    # then
    assert raised.value.message == message
    assert raised.value.extra["field"] == field
    assert not RetentionPolicy.objects.exists()
    assert events("retention.policy_set") == []
    (refusal,) = events("retention.policy_refused")
    assert refusal.actor == alice
    assert refusal.object_pk == str(dataset.pk)
    assert refusal.additional_data == {
        "code": "invalid",
        "message": message,
        "details": {"field": field},
    }


def test_a_purpose_retention_period_is_enough_without_a_maximum_age(events_dataset, alice):
    # when
    policy = set_policy(dataset=events_dataset, actor=alice)
    # then
    assert (policy.max_age_days, policy.expires_on) == (None, None)


# --- policies: who may set them ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["sam", "audrey", "bob", "charlie"])
def test_only_the_datasets_stewards_privacy_officers_and_admins_set_its_policy(
    request, events_dataset, who
):
    # given
    actor = request.getfixturevalue(who)
    # when
    with pytest.raises(NotPermitted) as raised:
        set_policy(dataset=events_dataset, actor=actor, max_age_days=30)
    # then
    assert raised.value.message == services.MSG_POLICY_FORBIDDEN
    assert not RetentionPolicy.objects.exists()
    (refusal,) = events("retention.policy_refused")
    assert refusal.actor == actor
    assert refusal.additional_data == {
        "code": "permission_denied",
        "message": services.MSG_POLICY_FORBIDDEN,
        "details": {},
    }


@pytest.mark.parametrize("who", ["alice", "petra", "ada"])
def test_the_steward_a_privacy_officer_and_an_admin_may_set_the_policy(
    request, events_dataset, who
):
    # given
    actor = request.getfixturevalue(who)
    # when
    policy = set_policy(dataset=events_dataset, actor=actor, max_age_days=30)
    # then
    assert (policy.max_age_days, policy.updated_by) == (30, actor)


def test_a_policy_change_replaces_the_policy_and_is_recorded(events_dataset, alice, petra):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    # when
    policy = set_policy(
        dataset=events_dataset,
        actor=petra,
        max_age_days=90,
        grace_days=7,
        expires_on=FAR,
        action="anonymize",
        enabled=False,
    )
    # then
    assert RetentionPolicy.objects.get() == policy
    assert (policy.created_by, policy.updated_by) == (alice, petra)
    first, second = events("retention.policy_set")
    assert (first.actor, second.actor) == (alice, petra)
    assert second.object_pk == str(events_dataset.pk)
    assert second.additional_data == {
        "dataset": "shop-events",
        "max_age_days": 90,
        "grace_days": 7,
        "expires_on": "2030-01-01",
        "action": "anonymize",
        "connection": "warehouse",
        "subject_namespace": "shop",
        "enabled": False,
    }


def test_dataset_for_finds_a_dataset_the_viewer_may_see_or_manage(events_dataset, audrey, sam):
    # when / then
    assert services.dataset_for(viewer=audrey, slug="shop-events") == events_dataset
    with pytest.raises(NotPermitted) as raised:
        services.dataset_for(viewer=audrey, slug="shop-events", manage=True)
    assert raised.value.message == services.MSG_POLICY_FORBIDDEN
    with pytest.raises(NotPermitted) as raised:
        services.dataset_for(viewer=sam, slug="shop-events")
    assert raised.value.message == services.MSG_VIEW_FORBIDDEN
    with pytest.raises(NotFound) as raised:
        services.dataset_for(viewer=audrey, slug="no-such-data")
    assert raised.value.message == "No dataset 'no-such-data'."


# --- legal holds ------------------------------------------------------------------------------


def test_a_privacy_officer_places_a_subject_hold_recorded_without_the_subject_id(petra):
    # when
    hold = services.hold_place(
        actor=petra,
        namespace="shop",
        external_id="cust-4711",
        reason="Litigation: order dispute",
        reference="CASE-12",
    )
    # then
    assert (hold.dataset, hold.namespace, hold.external_id) == (None, "shop", "cust-4711")
    (placed,) = events("retention.hold_placed")
    assert placed.additional_data == {
        "hold": hold.pk,
        "dataset": None,
        "reason": "Litigation: order dispute",
        "reference": "CASE-12",
        "subject_sha256": sha("shop", "cust-4711"),
    }
    assert "cust-4711" not in ledger_text()


def test_a_dataset_hold_names_no_subject(events_dataset, petra):
    # when
    hold = services.hold_place(actor=petra, dataset=events_dataset, reason="Regulator inquiry")
    # then
    assert (hold.namespace, hold.external_id) == ("", "")
    assert events("retention.hold_placed")[0].additional_data == {
        "hold": hold.pk,
        "dataset": "shop-events",
        "reason": "Regulator inquiry",
        "reference": "",
    }


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"reason": "   ", "external_id": "cust-1"}, ApplicationError, services.MSG_HOLD_REASON),
        ({"reason": "Case 9"}, ApplicationError, services.MSG_HOLD_SCOPE),
        (
            {"reason": "Case 9", "external_id": "jane@example.org"},
            ApplicationError,
            MSG_SUBJECT_EMAIL,
        ),
        (
            {"reason": "Case 9", "external_id": "+49 170 1234567"},
            ApplicationError,
            MSG_SUBJECT_PHONE,
        ),
        (
            {"reason": "Case 9", "external_id": "cust-1", "namespace": "Shop"},
            ApplicationError,
            MSG_NAMESPACE_FORMAT,
        ),
    ],
)
def test_a_hold_without_reason_scope_or_with_a_bad_subject_id_is_refused(
    petra, arguments, error, message
):
    # when
    with pytest.raises(error) as raised:
        services.hold_place(actor=petra, **arguments)
    # then
    assert raised.value.message == message
    assert not LegalHold.objects.exists()
    (refusal,) = events("retention.hold_refused")
    assert refusal.actor == petra
    assert refusal.additional_data["message"] == message
    assert "jane@example.org" not in ledger_text()
    assert "170 1234567" not in ledger_text()


@pytest.mark.parametrize("who", ["alice", "audrey", "ada"])
def test_only_privacy_officers_place_holds(request, events_dataset, who):
    # given
    actor = request.getfixturevalue(who)
    # when
    with pytest.raises(NotPermitted) as raised:
        services.hold_place(actor=actor, dataset=events_dataset, reason="Case 9")
    # then
    assert raised.value.message == services.MSG_PRIVACY_ONLY
    assert not LegalHold.objects.exists()
    assert events("retention.hold_refused")[0].actor == actor


def test_releasing_a_hold_records_who_and_why(events_dataset, petra):
    # given
    hold = services.hold_place(
        actor=petra, dataset=events_dataset, namespace="shop", external_id="c-1", reason="Case"
    )
    # when
    released = services.hold_release(hold_id=hold.pk, actor=petra, reason="  Case closed.  ")
    # then
    assert released.released_by == petra
    assert released.release_reason == "Case closed."
    assert released.is_active is False
    assert events("retention.hold_released")[0].additional_data == {
        "hold": hold.pk,
        "dataset": "shop-events",
        "reason": "Case",
        "reference": "",
        "subject_sha256": sha("shop", "c-1"),
        "release_reason": "Case closed.",
    }


def test_a_release_needs_a_privacy_officer_a_reason_and_an_active_hold(
    events_dataset, petra, alice
):
    # given
    hold = services.hold_place(actor=petra, dataset=events_dataset, reason="Case")
    # when / then
    refusals = [
        (dict(hold_id=hold.pk, actor=alice, reason="x"), NotPermitted, services.MSG_PRIVACY_ONLY),
        (
            dict(hold_id=hold.pk, actor=petra, reason=" "),
            ApplicationError,
            services.MSG_RELEASE_REASON,
        ),
        (
            dict(hold_id=hold.pk + 99, actor=petra, reason="x"),
            NotFound,
            services.MSG_HOLD_NOT_FOUND,
        ),
    ]
    for arguments, error, message in refusals:
        with pytest.raises(error) as raised:
            services.hold_release(**arguments)
        assert raised.value.message == message
    hold.refresh_from_db()
    assert hold.is_active
    services.hold_release(hold_id=hold.pk, actor=petra, reason="Done.")
    with pytest.raises(Conflict) as raised:
        services.hold_release(hold_id=hold.pk, actor=petra, reason="Again.")
    assert raised.value.message == services.MSG_HOLD_RELEASED
    hold.refresh_from_db()
    assert hold.release_reason == "Done."
    assert [e.additional_data["message"] for e in events("retention.hold_refused")] == [
        services.MSG_PRIVACY_ONLY,
        services.MSG_RELEASE_REASON,
        services.MSG_HOLD_NOT_FOUND,
        services.MSG_HOLD_RELEASED,
    ]


# --- erasure requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 12, 31), 3, date(2026, 3, 31)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2026, 6, 10), 12, date(2027, 6, 10)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_last_day_of_a_shorter_month(day, months, expected):
    assert services.add_months(day, months) == expected


@pytest.fixture
def shop(events_dataset, alice, petra):
    """Besides shop-events: shop-tickets (subject-id field, policy in shop), crm-contacts
    (policy in crm), shop-clicks (no policy), shop-logs (no subject-id field)."""
    tickets = csv_dataset(alice, "shop-tickets", subject_id_field="customer_id")
    crm = csv_dataset(alice, "crm-contacts", subject_id_field="customer_id")
    csv_dataset(alice, "shop-clicks", subject_id_field="customer_id")
    logs = csv_dataset(alice, "shop-logs")
    set_policy(dataset=events_dataset, actor=alice, max_age_days=365)
    set_policy(dataset=tickets, actor=alice, expires_on=FAR)
    set_policy(dataset=crm, actor=alice, expires_on=FAR, subject_namespace="crm")
    set_policy(dataset=logs, actor=alice, expires_on=FAR)
    return {"events": events_dataset, "tickets": tickets, "crm": crm, "logs": logs}


def test_an_erasure_request_is_due_a_month_after_receipt_in_every_dataset_of_its_namespace(
    shop, petra
):
    # given / when
    with time_machine.travel(datetime(2026, 1, 31, 9, tzinfo=UTC), tick=False):
        request = services.erasure_request_create(
            actor=petra,
            external_id="cust-4711",
            namespace="shop",
            received_on=date(2026, 1, 31),
            reference="DSR-77",
        )
    # then
    assert request.due_on == date(2026, 2, 28)
    assert request.status == ErasureRequest.Status.OPEN
    assert [(t.dataset.slug, t.status) for t in request.targets.order_by("dataset__slug")] == [
        ("shop-events", "pending"),
        ("shop-tickets", "pending"),
    ]
    (requested,) = events("retention.erasure_requested")
    assert requested.additional_data == {
        "request": request.pk,
        "subject_sha256": sha("shop", "cust-4711"),
        "received_on": "2026-01-31",
        "due_on": "2026-02-28",
        "datasets": ["shop-events", "shop-tickets"],
        "reference": "DSR-77",
    }
    assert "cust-4711" not in ledger_text()


def test_an_erasure_request_enqueues_the_erasure_dispatch_after_commit(
    shop, petra, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.erasure_request_create(
            actor=petra, external_id="cust-1", namespace="shop", received_on=date(2026, 11, 1)
        )
    # then
    assert len(callbacks) == 1


def test_named_datasets_are_the_targets_and_must_have_a_subject_id_field(shop, petra):
    # when
    request = services.erasure_request_create(
        actor=petra,
        external_id="cust-1",
        namespace="shop",
        received_on=date(2026, 11, 1),
        datasets=[shop["tickets"], shop["tickets"]],
    )
    # then
    assert [t.dataset for t in request.targets.all()] == [shop["tickets"]]
    with pytest.raises(ApplicationError) as raised:
        services.erasure_request_create(
            actor=petra,
            external_id="cust-2",
            namespace="shop",
            received_on=date(2026, 11, 1),
            datasets=[shop["tickets"], shop["logs"]],
        )
    assert raised.value.message == services.MSG_TARGET_NO_SUBJECT_FIELD.format(slug="shop-logs")
    assert ErasureRequest.objects.count() == 1
    assert events("retention.erasure_refused")[0].additional_data == {
        "code": "invalid",
        "message": services.MSG_TARGET_NO_SUBJECT_FIELD.format(slug="shop-logs"),
        "details": {"field": "datasets"},
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"received_on": date(2026, 2, 1)}, services.MSG_RECEIVED_FUTURE),
        ({"external_id": "jane@example.org"}, MSG_SUBJECT_EMAIL),
        ({"namespace": "crm"}, services.MSG_NO_TARGETS),
    ],
)
def test_an_erasure_request_received_in_the_future_for_a_bad_id_or_without_targets_is_refused(
    events_dataset, alice, petra, arguments, message
):
    # given only shop-events has a policy, in the shop namespace
    set_policy(dataset=events_dataset, actor=alice, max_age_days=365)
    fields = {"external_id": "cust-1", "namespace": "shop", "received_on": date(2026, 1, 31)}
    # when
    with time_machine.travel(datetime(2026, 1, 31, 23, 59, tzinfo=UTC), tick=False):
        with pytest.raises(ApplicationError) as raised:
            services.erasure_request_create(actor=petra, **(fields | arguments))
    # then
    assert raised.value.message == message
    assert not ErasureRequest.objects.exists()
    assert not ErasureTarget.objects.exists()
    assert events("retention.erasure_refused")[0].additional_data["message"] == message
    assert "jane@example.org" not in ledger_text()


def test_only_privacy_officers_handle_erasure_requests(events_dataset, alice, audrey):
    set_policy(dataset=events_dataset, actor=alice, max_age_days=365)
    for actor in (alice, audrey):
        with pytest.raises(NotPermitted) as raised:
            services.erasure_request_create(
                actor=actor, external_id="cust-1", namespace="shop", received_on=date(2026, 11, 1)
            )
        assert raised.value.message == services.MSG_PRIVACY_ONLY
    assert not ErasureRequest.objects.exists()
    assert [e.actor for e in events("retention.erasure_refused")] == [alice, audrey]


def test_the_target_of_a_held_subject_or_dataset_is_held(shop, petra, alice):
    # given cust-1 is on hold everywhere, and shop-tickets is on hold
    services.hold_place(actor=petra, namespace="shop", external_id="cust-1", reason="Case 1")
    services.hold_place(actor=petra, dataset=shop["tickets"], reason="Case 2")
    # when
    held = services.erasure_request_create(
        actor=petra, external_id="cust-1", namespace="shop", received_on=date(2026, 11, 1)
    )
    other = services.erasure_request_create(
        actor=petra, external_id="cust-2", namespace="shop", received_on=date(2026, 11, 1)
    )
    # then
    statuses = lambda r: {t.dataset.slug: t.status for t in r.targets.all()}  # noqa: E731
    assert statuses(held) == {"shop-events": "held", "shop-tickets": "held"}
    assert statuses(other) == {"shop-events": "pending", "shop-tickets": "held"}


def test_a_hold_placed_later_holds_pending_targets_and_its_release_frees_them(shop, petra):
    # given
    request = services.erasure_request_create(
        actor=petra, external_id="cust-1", namespace="shop", received_on=date(2026, 11, 1)
    )
    statuses = lambda: {t.dataset.slug: t.status for t in request.targets.all()}  # noqa: E731
    # when a hold on cust-1 in shop-events, and one on shop-events, are placed
    subject = services.hold_place(
        actor=petra, dataset=shop["events"], namespace="shop", external_id="cust-1", reason="A"
    )
    whole = services.hold_place(actor=petra, dataset=shop["events"], reason="B")
    # then
    assert statuses() == {"shop-events": "held", "shop-tickets": "pending"}
    # when one is released, the other still holds; when both are, the target is pending
    services.hold_release(hold_id=subject.pk, actor=petra, reason="Done.")
    assert statuses() == {"shop-events": "held", "shop-tickets": "pending"}
    services.hold_release(hold_id=whole.pk, actor=petra, reason="Done.")
    assert statuses() == {"shop-events": "pending", "shop-tickets": "pending"}


def _request(petra, received_on=date(2025, 11, 30)) -> ErasureRequest:
    return services.erasure_request_create(
        actor=petra, external_id="cust-1", namespace="shop", received_on=received_on
    )


@time_machine.travel(datetime(2025, 12, 10, 9, tzinfo=UTC), tick=False)
def test_an_extension_makes_the_deadline_three_months_from_receipt_once(shop, petra):
    # given
    request = _request(petra)
    assert request.due_on == date(2025, 12, 30)
    # when
    extended = services.erasure_request_extend(
        request_id=request.pk, actor=petra, reason="Backups in twelve systems."
    )
    # then
    assert extended.due_on == date(2026, 2, 28)
    assert (extended.extended, extended.extension_reason) == (True, "Backups in twelve systems.")
    assert events("retention.erasure_extended")[0].additional_data == {
        "request": request.pk,
        "due_on": "2026-02-28",
        "reason": "Backups in twelve systems.",
    }
    with pytest.raises(Conflict) as raised:
        services.erasure_request_extend(request_id=request.pk, actor=petra, reason="More.")
    assert raised.value.message == services.MSG_ALREADY_EXTENDED
    request.refresh_from_db()
    assert (request.due_on, request.extension_reason) == (
        date(2026, 2, 28),
        "Backups in twelve systems.",
    )
    assert events("retention.erasure_refused")[0].additional_data["message"] == (
        services.MSG_ALREADY_EXTENDED
    )


@time_machine.travel(datetime(2025, 12, 10, 9, tzinfo=UTC), tick=False)
def test_an_extension_needs_a_reason_and_a_privacy_officer(shop, petra, alice):
    # given
    request = _request(petra)
    # when / then
    with pytest.raises(ApplicationError) as raised:
        services.erasure_request_extend(request_id=request.pk, actor=petra, reason="  ")
    assert raised.value.message == services.MSG_EXTENSION_REASON
    with pytest.raises(NotPermitted):
        services.erasure_request_extend(request_id=request.pk, actor=alice, reason="Because.")
    request.refresh_from_db()
    assert (request.extended, request.due_on) == (False, date(2025, 12, 30))
    assert len(events("retention.erasure_refused")) == 2


def test_an_extension_after_the_one_month_deadline_is_refused(shop, petra):
    # given a request received 2025-11-30, due 2025-12-30, and today is later than that
    request = _request(petra)
    # when / then
    with pytest.raises(Conflict) as raised:
        services.erasure_request_extend(request_id=request.pk, actor=petra, reason="Late.")
    assert raised.value.message == services.MSG_EXTENSION_LATE.format(due="2025-12-30")
    request.refresh_from_db()
    assert (request.extended, request.due_on) == (False, date(2025, 12, 30))
    assert events("retention.erasure_refused")[0].additional_data["message"] == (
        raised.value.message
    )


def test_rejecting_a_request_closes_it_with_the_exemption(shop, petra):
    # given
    request = _request(petra)
    # when
    rejected = services.erasure_request_reject(
        request_id=request.pk, actor=petra, reason="Art. 17(3)(b): tax records."
    )
    # then
    assert rejected.status == ErasureRequest.Status.REJECTED
    assert (rejected.closed_by, rejected.rejection_reason) == (
        petra,
        "Art. 17(3)(b): tax records.",
    )
    assert rejected.closed_at is not None
    assert events("retention.erasure_rejected")[0].additional_data == {
        "request": request.pk,
        "reason": "Art. 17(3)(b): tax records.",
    }


def test_a_rejection_needs_the_exemption_and_an_open_request(shop, petra):
    # given
    request = _request(petra)
    # when / then
    with pytest.raises(ApplicationError) as raised:
        services.erasure_request_reject(request_id=request.pk, actor=petra, reason="")
    assert raised.value.message == services.MSG_REJECTION_REASON
    services.erasure_request_reject(request_id=request.pk, actor=petra, reason="Art. 17(3)(e)")
    closed = services.MSG_REQUEST_CLOSED.format(status="rejected")
    for call in (services.erasure_request_reject, services.erasure_request_extend):
        with pytest.raises(Conflict) as raised:
            call(request_id=request.pk, actor=petra, reason="Again.")
        assert raised.value.message == closed
    with pytest.raises(NotFound) as raised:
        services.erasure_request_reject(request_id=request.pk + 99, actor=petra, reason="x")
    assert raised.value.message == services.MSG_REQUEST_NOT_FOUND
    request.refresh_from_db()
    assert (request.rejection_reason, request.extended) == ("Art. 17(3)(e)", False)
    assert [e.additional_data["message"] for e in events("retention.erasure_refused")] == [
        services.MSG_REJECTION_REASON,
        closed,
        closed,
        services.MSG_REQUEST_NOT_FOUND,
    ]


# --- starting runs ----------------------------------------------------------------------------


def test_a_steward_starts_a_run_with_its_criteria_fixed(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    # when
    run = services.run_start(dataset=events_dataset, actor=alice)
    # then
    assert (run.status, run.kind, run.trigger, run.requested_by) == (
        "queued",
        "retention",
        "manual",
        alice,
    )
    assert run.plan["max_age_days"] == 30
    assert run.plan["cutoff"] is not None
    assert events("retention.run_queued")[0].additional_data == {
        "run": run.pk,
        "dataset": "shop-events",
        "kind": "retention",
        "trigger": "manual",
        "subjects": 0,
        "subjects_sha256": hashlib.sha256(b"").hexdigest(),
    }


def _refused_run(dataset, actor, error, message, kind="retention"):
    with pytest.raises(error) as raised:
        services.run_start(dataset=dataset, actor=actor, kind=kind)
    assert raised.value.message == message
    refusal = events("retention.run_refused")[-1]
    assert (refusal.actor, refusal.object_pk) == (actor, str(dataset.pk))
    assert refusal.additional_data["message"] == message
    return raised.value


def test_a_run_without_a_policy_is_a_conflict(events_dataset, alice):
    # when
    error = _refused_run(events_dataset, alice, Conflict, services.MSG_RUN_NO_POLICY)
    # then
    assert (error.status_code, error.code) == (409, "conflict")
    assert not RetentionRun.objects.exists()


def test_a_run_under_a_switched_off_policy_is_a_conflict(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30, enabled=False)
    # when
    _refused_run(events_dataset, alice, Conflict, services.MSG_RUN_DISABLED)
    # then
    assert not RetentionRun.objects.exists()


def test_a_second_run_while_one_is_queued_is_a_conflict(events_dataset, alice, petra):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    first = services.run_start(dataset=events_dataset, actor=alice)
    # when
    error = _refused_run(
        events_dataset, petra, Conflict, services.MSG_RUN_ACTIVE.format(run=first.pk)
    )
    # then
    assert error.extra == {"run": first.pk}
    assert list(RetentionRun.objects.all()) == [first]


@pytest.mark.parametrize("who", ["charlie", "audrey", "sam"])
def test_outsiders_and_auditors_cannot_start_a_run(request, events_dataset, alice, who):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    actor = request.getfixturevalue(who)
    # when
    _refused_run(events_dataset, actor, NotPermitted, services.MSG_POLICY_FORBIDDEN)
    # then
    assert not RetentionRun.objects.exists()


def test_an_unknown_run_kind_is_refused(events_dataset, alice):
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    _refused_run(
        events_dataset,
        alice,
        ApplicationError,
        "Unknown run kind 'purge'; choose retention or erasure.",
        kind="purge",
    )
    assert not RetentionRun.objects.exists()


# --- the dry run ------------------------------------------------------------------------------


@pytest.fixture
def governed(store, events_dataset, alice, petra):
    """2,000 rows over two years of 50 subjects; c-1..c-3 withdrew, c-3 is on legal hold."""
    store.fill(2000, subjects=50)
    give_consent([f"c-{i}" for i in range(50)])
    withdraw(["c-1", "c-2", "c-3"])
    services.hold_place(actor=petra, namespace="shop", external_id="c-3", reason="Case")
    return store


def _execute(dataset, actor, kind="retention") -> RetentionRun:
    run = services.run_start(dataset=dataset, actor=actor, kind=kind)
    return runner.run_execute(run_id=run.pk)


@pytest.mark.parametrize("kind", ["retention", "erasure"])
def test_the_dry_run_counts_exactly_what_the_next_run_deletes_and_deletes_nothing(
    governed, events_dataset, alice, kind
):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    # when
    preview = services.retention_preview(dataset=events_dataset, viewer=alice, kind=kind)
    # then nothing changed in the store
    assert governed.count() == 2000
    (operation,) = preview["operations"]
    assert operation["operation"] == "delete"
    assert operation["criteria"]["subjects"] == 2
    assert operation["criteria"]["held_subjects"] == 1
    assert preview["withdrawn_subjects"] == 2
    assert preview["held_subjects"] == 1
    assert preview["totals"]["rows"] == operation["rows"] > 0
    assert events("retention.previewed")[0].additional_data == {
        "dataset": "shop-events",
        "kind": kind,
        "totals": preview["totals"],
    }
    # and the run deletes exactly that
    run = _execute(events_dataset, alice, kind)
    assert run.status == RetentionRun.Status.SUCCEEDED
    assert run.rows_deleted == preview["totals"]["rows"]
    assert governed.count() == 2000 - preview["totals"]["rows"]
    if kind == "erasure":
        assert preview["totals"] == {"rows": 80, "files": 0, "subjects": 2}


def test_the_dry_run_of_an_anonymising_policy_counts_each_operation(
    governed, events_dataset, alice
):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=100, action="anonymize")
    # when
    preview = services.retention_preview(dataset=events_dataset, viewer=alice)
    # then
    assert governed.count() == 2000
    delete, anonymize = preview["operations"]
    assert (delete["operation"], delete["rows"], delete["subjects"]) == ("delete", 80, 2)
    assert anonymize["operation"] == "anonymize"
    run = _execute(events_dataset, alice)
    assert (run.rows_deleted, run.rows_anonymized) == (80, anonymize["rows"])
    again = services.retention_preview(dataset=events_dataset, viewer=alice)
    assert again["totals"]["rows"] == 0


def test_an_auditor_may_preview_an_outsider_may_not(events_dataset, alice, audrey, charlie):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    # when
    seen = services.retention_preview(dataset=events_dataset, viewer=audrey, kind="erasure")
    with pytest.raises(NotPermitted) as raised:
        services.retention_preview(dataset=events_dataset, viewer=charlie)
    # then
    assert seen["operations"] == []
    assert raised.value.message == services.MSG_VIEW_FORBIDDEN
    refusal = events("retention.preview_refused")[0]
    assert (refusal.actor, refusal.object_pk) == (charlie, str(events_dataset.pk))
    assert [e.actor for e in events("retention.previewed")] == [audrey]


def test_a_dry_run_with_a_problem_does_not_touch_the_store_and_says_why(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30, enabled=False)
    # when
    preview = services.retention_preview(dataset=events_dataset, viewer=alice)
    # then
    assert preview["problems"] == ["The dataset's retention policy is switched off."]
    assert preview["operations"] == []
    assert preview["totals"] == {"rows": 0, "files": 0, "subjects": 0}


def test_the_preview_reports_the_erasure_deadline(governed, events_dataset, alice, settings):
    # given
    settings.RETENTION_ERASURE_DEADLINE_DAYS = 30
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    # when
    preview = services.retention_preview(dataset=events_dataset, viewer=alice)
    # then c-1..c-3 withdrew two days ago (see conftest.withdraw)
    assert preview["erasure_due_by"] is not None
    assert abs(preview["erasure_due_by"] - (timezone.now() + timedelta(days=28))) < timedelta(
        minutes=5
    )


def test_a_missing_event_time_field_stops_retention_runs_but_not_erasure(
    governed, events_dataset, alice, petra
):
    # given shop.events re-reviewed without its event-time field, serving churn-model
    # (365 days): no age can be enforced, but withdrawn subjects can be found
    from datasets import services as catalog
    from tests.datasets.factories import ANSWERS

    raw = events_dataset
    catalog.dataset_reopen(actor=alice, dataset=raw, reason="the clock column is unreliable")
    catalog.dataset_update(actor=alice, dataset=raw, event_time_field="")
    catalog.dataset_submit(actor=alice, dataset=raw, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=raw, note="Checked as described.")
    raw.refresh_from_db()
    set_policy(dataset=raw, actor=alice, expires_on=FAR)
    problem = (
        "A maximum age of 365 days applies (purpose churn-model v1), but the dataset names no "
        "event-time field: set one in the catalog, or nothing can be deleted by age."
    )
    # when
    retention = _execute(raw, alice, "retention")
    erasure = _execute(raw, alice, "erasure")
    # then the retention run fails with the reason; the erasure run erases c-1 and c-2
    assert (retention.status, retention.error_code, retention.error) == (
        "failed",
        "invalid",
        problem,
    )
    assert erasure.plan["problems"] == []
    assert (erasure.status, erasure.rows_deleted) == ("succeeded", 80)
    assert governed.count() == 2000 - 80
    assert not [row for row in governed.rows() if row[1] in ("c-1", "c-2")]


# --- later review: refusals that keep data safe -----------------------------------------------


def test_a_boolean_is_not_a_number_of_days(events_dataset, alice):
    with pytest.raises(ApplicationError) as raised:
        set_policy(dataset=events_dataset, actor=alice, max_age_days=True)
    assert raised.value.message == services.MSG_MAX_AGE
    assert not RetentionPolicy.objects.filter(dataset=events_dataset).exists()


def test_an_expiry_date_in_the_past_is_refused_unless_it_is_kept_unchanged(events_dataset, alice):
    # given a policy set last year with an expiry date that has since passed
    with time_machine.travel(datetime(2025, 6, 1, tzinfo=UTC), tick=False):
        set_policy(dataset=events_dataset, actor=alice, expires_on=date(2025, 9, 1))
    # when a new past date is set: refused, nothing changes
    with pytest.raises(ApplicationError) as raised:
        set_policy(dataset=events_dataset, actor=alice, expires_on=date(2025, 10, 1))
    assert raised.value.message == services.MSG_EXPIRY_PAST
    assert raised.value.extra["field"] == "expires_on"
    assert RetentionPolicy.objects.get(dataset=events_dataset).expires_on == date(2025, 9, 1)
    # then editing other fields while keeping the passed date is allowed
    policy = set_policy(
        dataset=events_dataset, actor=alice, expires_on=date(2025, 9, 1), grace_days=10
    )
    assert (policy.expires_on, policy.grace_days) == (date(2025, 9, 1), 10)


def test_an_erasure_request_names_only_datasets_a_run_can_erase_from(shop, petra, alice):
    # given shop-clicks has a subject-id field but no policy; crm-contacts' policy is in "crm"
    clicks = Dataset.objects.get(slug="shop-clicks")
    # when / then
    for dataset, namespace in ((clicks, "shop"), (shop["crm"], "shop")):
        with pytest.raises(ApplicationError) as raised:
            services.erasure_request_create(
                actor=petra,
                external_id="cust-9",
                namespace=namespace,
                received_on=date(2026, 11, 1),
                datasets=[dataset],
            )
        assert raised.value.message == services.MSG_TARGET_NO_POLICY.format(
            slug=dataset.slug, namespace=namespace
        )
    assert not ErasureRequest.objects.exists()


def test_the_default_targets_leave_out_switched_off_policies(shop, petra, alice):
    # given the tickets policy is switched off
    set_policy(dataset=shop["tickets"], actor=alice, expires_on=FAR, enabled=False)
    # when
    request = services.erasure_request_create(
        actor=petra, external_id="cust-9", namespace="shop", received_on=date(2026, 11, 1)
    )
    # then
    assert sorted(request.targets.values_list("dataset__slug", flat=True)) == ["shop-events"]
