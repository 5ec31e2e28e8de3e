"""Abuse cases of the trust boundary (issue "Trust boundary"): each one went through before the
rules had one owner. Every test tries the abuse the way a hostile insider would, through the
API or the admin, and asserts the refusal, that nothing changed, and that the refusal is in the
ledger."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from consent import policy as consent_policy
from consent.models import Purpose
from datasets import policy as catalog_policy
from datasets import services as catalog
from datasets.models import Dataset
from governance.access import policy as access_policy
from governance.access import services as access
from governance.access.models import AccessRequest, Grant
from governance.accounts import policy as accounts_policy
from governance.accounts.models import User
from governance.accounts.services import user_deactivate, user_roles_set
from governance.audit.models import LedgerEntry
from governance.retention import policy as retention_policy
from governance.retention.models import RetentionRun
from tests.access.conftest import request_and_approve, router_job
from tests.accounts.factories import UserFactory, make_service_account
from tests.datasets.factories import ANSWERS, make_dataset
from tests.retention.conftest import EVENT_FIELDS, give_consent, set_policy, withdraw
from tests.test_api_shell import _token_for

pytestmark = pytest.mark.django_db


def events(name: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(event=name).order_by("id"))


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["message"]


def as_user(api_client, user):
    api_client.force_authenticate(user)
    return api_client


@pytest.fixture
def carol(db):
    """A steward of other datasets."""
    return UserFactory(username="carol", roles=["steward"])


# --- 1. A steward deleted another steward's data ---------------------------------------------


def _write_csv(folder, rows: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["customer_id,email,event_time"]
    lines += [f"{c},{c}@example.com,{t}" for c, t in rows]
    (folder / "events.csv").write_text("\n".join(lines) + "\n")


def _approved_csv(steward, petra, slug, folder, purpose="churn-model"):
    dataset = make_dataset(
        steward,
        slug=slug,
        fields=EVENT_FIELDS,
        storage_kind="csv",
        location=str(folder),
        subject_id_field="customer_id",
        event_time_field="event_time",
    )
    catalog.dataset_submit(actor=steward, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    access.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug=purpose)
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def two_csv_datasets(tmp_path, settings, churn, alice, carol, petra):
    """alice's customer-events and carol's own carol-events, both approved, in two folders."""
    settings.RETENTION_FILE_ROOTS = [tmp_path.resolve()]
    old = (timezone.now() - timedelta(days=400)).isoformat()
    theirs = tmp_path / "customer-events"
    _write_csv(theirs, [(f"c-{i}", old) for i in range(50)])
    mine = tmp_path / "carol-events"
    _write_csv(mine, [("c-900", old)])
    victim = _approved_csv(alice, petra, "customer-events", theirs)
    own = _approved_csv(carol, petra, "carol-events", mine)
    return victim, own, theirs


def test_a_steward_cannot_repoint_their_approved_dataset_at_another_stewards_folder(
    api_client, two_csv_datasets, carol
):
    _victim, own, theirs = two_csv_datasets
    before = (theirs / "events.csv").read_bytes()
    # when carol points her own approved dataset at alice's folder
    response = as_user(api_client, carol).post(
        f"/api/v1/datasets/{own.slug}/update", {"location": str(theirs)}, format="json"
    )
    # then: where an approved dataset lives changes only through a new review
    assert error(response) == (409, catalog_policy.MSG_LOCATION_NEEDS_DRAFT)
    own.refresh_from_db()
    assert own.location.endswith("carol-events")
    assert (theirs / "events.csv").read_bytes() == before
    assert [e.additional_data["code"] for e in events("dataset.update_refused")] == ["conflict"]


def test_a_location_belongs_to_exactly_one_dataset_even_after_reopening(
    api_client, two_csv_datasets, carol
):
    _victim, own, theirs = two_csv_datasets
    catalog.dataset_reopen(actor=carol, dataset=own, reason="move the files")
    client = as_user(api_client, carol)
    # when carol, owner of a draft now, claims alice's folder, a folder inside it, or a parent
    answers = [
        client.post(f"/api/v1/datasets/{own.slug}/update", {"location": location}, format="json")
        for location in (str(theirs), str(theirs / "2026"), str(theirs.parent))
    ]
    # then every claim is refused with the rule's message, and nothing changed
    assert [error(r) for r in answers] == [(409, catalog_policy.MSG_LOCATION_TAKEN)] * 3
    own.refresh_from_db()
    assert own.location.endswith("carol-events")
    assert len(events("dataset.update_refused")) == 3


def test_creating_a_dataset_on_another_datasets_location_is_refused(
    api_client, two_csv_datasets, carol
):
    _victim, _own, theirs = two_csv_datasets
    # when carol catalogs a new dataset on alice's folder (through a symlink, even)
    link = theirs.parent / "innocent-looking"
    link.symlink_to(theirs)
    answers = [
        as_user(api_client, carol).post(
            "/api/v1/datasets/create",
            {"slug": slug, "name": slug, "storage_kind": "csv", "location": location},
            format="json",
        )
        for slug, location in (("grab", str(theirs)), ("grab-link", str(link)))
    ]
    # then
    assert [error(r) for r in answers] == [(409, catalog_policy.MSG_LOCATION_TAKEN)] * 2
    assert not Dataset.objects.filter(slug__startswith="grab").exists()
    assert len(events("dataset.create_refused")) == 2


def test_retention_acts_only_on_approved_datasets(api_client, two_csv_datasets, carol):
    _victim, own, _theirs = two_csv_datasets
    set_policy(dataset=own, actor=carol, max_age_days=30)
    catalog.dataset_reopen(actor=carol, dataset=own, reason="rework")
    client = as_user(api_client, carol)
    # when carol previews or runs retention on her reopened (draft) dataset
    preview = client.get(f"/api/v1/retention/datasets/{own.slug}/preview")
    run = client.post(f"/api/v1/retention/datasets/{own.slug}/runs", {}, format="json")
    # then both are refused: a dataset's store is touched only while its review holds
    message = retention_policy.MSG_NOT_APPROVED.format(status="draft")
    assert error(preview) == (409, message)
    assert error(run) == (409, message)
    assert not RetentionRun.objects.exists()


def test_the_same_table_through_another_connection_name_is_another_claim_refused(
    api_client, store, store_database, settings, churn, alice, carol, petra
):
    # given alice's shop.events on "warehouse", and a second name for the same database
    settings.RETENTION_CONNECTIONS = {"warehouse": store_database, "alias": store_database}
    make_dataset(
        alice,
        slug="shop-events",
        storage_kind="postgres_table",
        location="shop.events",
        connection="warehouse",
    )
    # when carol catalogs "shop.events" on the alias (or the same name quoted differently)
    answers = [
        as_user(api_client, carol).post(
            "/api/v1/datasets/create",
            {
                "slug": slug,
                "name": slug,
                "storage_kind": "postgres_table",
                "location": location,
                "connection": "alias",
            },
            format="json",
        )
        for slug, location in (("grab", "shop.events"), ("grab-case", "SHOP.Events"))
    ]
    # then
    assert [error(r) for r in answers] == [(409, catalog_policy.MSG_LOCATION_TAKEN)] * 2
    assert list(Dataset.objects.values_list("slug", flat=True)) == ["shop-events"]


def test_a_scan_cannot_read_another_datasets_location(
    api_client, two_csv_datasets, carol, settings
):
    _victim, own, theirs = two_csv_datasets
    settings.SCANNER_FILE_ROOTS = [theirs.parent.resolve()]
    catalog.dataset_reopen(actor=carol, dataset=own, reason="rescan")
    # when carol scans a file of alice's dataset for her own dataset
    response = as_user(api_client, carol).post(
        f"/api/v1/datasets/{own.slug}/scans/create",
        {"path": str(theirs / "events.csv")},
        format="multipart",
    )
    # then
    assert error(response) == (409, catalog_policy.MSG_SCAN_OTHER_DATASET)
    assert not own.scans.exists()


def test_the_whole_attack_deletes_nothing_of_the_other_stewards_files(
    two_csv_datasets, carol, alice
):
    """The reproduction from the issue, end to end through the services."""
    from governance.errors import ApplicationError
    from governance.retention import runner
    from governance.retention import services as retention

    victim, own, theirs = two_csv_datasets
    before = (theirs / "events.csv").read_bytes()
    attempts = []
    for attempt in (
        lambda: catalog.dataset_update(
            actor=carol,
            dataset=own,
            location=str(theirs),
            event_time_field="event_time",
            subject_id_field="customer_id",
        ),
        lambda: set_policy(dataset=victim, actor=carol, max_age_days=30),
        lambda: retention.run_start(dataset=victim, actor=carol),
    ):
        try:
            attempt()
        except ApplicationError as refused:
            attempts.append(refused.status_code)
    # carol's own run (allowed) touches only her own folder
    set_policy(dataset=own, actor=carol, max_age_days=30)
    runner.run_execute(run_id=retention.run_start(dataset=own, actor=carol).pk)
    assert attempts == [409, 403, 403]
    assert (theirs / "events.csv").read_bytes() == before


# --- 2. Removing a role does not remove its powers -------------------------------------------


def test_a_former_steward_can_no_longer_manage_their_datasets_or_their_retention(
    api_client, store, events_dataset, alice, ada
):
    # given alice, steward (and engineer) of shop-events, loses the steward role
    user_roles_set(user=alice, roles=["engineer"], actor=ada)
    alice.refresh_from_db()
    client = as_user(api_client, alice)
    # when she updates the dataset and its retention policy
    update = client.post(
        f"/api/v1/datasets/{events_dataset.slug}/update", {"name": "Mine still"}, format="json"
    )
    policy = client.put(
        f"/api/v1/retention/datasets/{events_dataset.slug}/policy",
        {"max_age_days": 1, "connection": "warehouse", "subject_namespace": "shop"},
        format="json",
    )
    # then both are refused and nothing changed; her object permission was cleaned up
    assert update.status_code == 403
    assert policy.status_code == 403
    events_dataset.refresh_from_db()
    assert events_dataset.name == "shop events"
    assert not alice.has_perm("datasets.change_dataset", events_dataset)
    assert events("dataset.stewards_changed")[-1].additional_data == {
        "before": ["alice"],
        "after": [],
        "reason": "role_removed",
    }


def test_an_object_permission_without_the_role_gives_no_power(db, alice, petra):
    # given an object permission that survived outside the roles service (e.g. a restore)
    dataset = make_dataset(alice, slug="orphan")
    outsider = UserFactory(username="eve", roles=["engineer"])
    assign_perm("datasets.change_dataset", outsider, dataset)
    # then the rule ignores it, for the object and for the list
    assert catalog_policy.may_manage(outsider, dataset) is not None
    assert not Dataset.objects.filter(catalog_policy.managed_by(outsider)).exists()


# --- 3. Four eyes on purposes ------------------------------------------------------------------


def test_whoever_created_or_submitted_a_purpose_cannot_activate_it(client, db, petra):
    client.force_login(petra)
    form = {
        "slug": "self-signed",
        "name": "Self signed",
        "description": "A purpose its author wants live today.",
        "legal_basis": "legitimate_interests",
        "retention_days": 30,
        "controller": "Example Retail GmbH",
        "controller_contact": "privacy@example.org",
        "data_categories": ["user.behavior"],
        "data_subject_categories": "customer",
        "owner": "petra",
    }
    assert client.post("/consent/purposes/new/", form).status_code == 302
    assert client.post("/consent/purposes/self-signed/v1/submit/").status_code == 302
    # when she activates it herself
    response = client.post("/consent/purposes/self-signed/v1/activate/")
    # then four eyes hold: another privacy officer must
    assert response.status_code == 403
    assert consent_policy.MSG_OWN_SIGN_OFF in response.content.decode()
    assert Purpose.objects.get(slug="self-signed").status == "submitted"
    assert [e.additional_data["message"] for e in events("purpose.activation_refused")] == [
        consent_policy.MSG_OWN_SIGN_OFF
    ]
    client.force_login(UserFactory(username="paula", roles=["privacy_officer"]))
    signed = {"note": "Checked.", "checklist": ["legal_basis", "minimal", "retention"]}
    assert client.post("/consent/purposes/self-signed/v1/activate/", signed).status_code == 302
    assert Purpose.objects.get(slug="self-signed").status == "active"


def test_whoever_created_a_dataset_cannot_approve_it_even_if_someone_else_submitted(db, petra):
    from governance.errors import NotPermitted

    both = UserFactory(username="pat", roles=["steward", "privacy_officer"])
    dataset = make_dataset(both, slug="pats", fields={"id": (None, "non_personal", "", "keep")})
    other = UserFactory(username="sam", roles=["steward"])
    catalog.dataset_stewards_set(actor=both, dataset=dataset, stewards=[both, other])
    catalog.dataset_submit(actor=other, dataset=dataset, **ANSWERS)
    with pytest.raises(NotPermitted, match="You created this dataset, classified its fields"):
        catalog.dataset_approve(actor=both, dataset=dataset, note="Checked as described.")
    dataset.refresh_from_db()
    assert dataset.status == "in_review"


# --- 4. A job outlives its accountable owner --------------------------------------------------


@pytest.fixture
def job(bob, alice, approved_for_routing, tickets):
    account, _ = router_job(bob, alice, tickets)
    return account


def _check(api_client, account):
    return api_client.post(
        "/api/v1/access/check",
        {"dataset": "support-tickets", "purpose": "ticket-routing"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}",
    )


def test_a_job_whose_owner_left_is_denied_with_owner_inactive(api_client, job, bob, ada):
    assert _check(api_client, job).json()["decision"] == "allow"
    # when bob's account is deactivated
    user_deactivate(user=bob, actor=ada, reason="left the company")
    body = _check(api_client, job).json()
    # then the job is denied, says why, and gets no lease
    assert (body["decision"], [r["code"] for r in body["reasons"]], body["lease"]) == (
        "deny",
        ["owner_inactive"],
        None,
    )
    assert events("access.check")[-1].additional_data["reasons"] == ["owner_inactive"]


def test_a_job_whose_owner_lost_every_role_that_may_run_jobs_is_denied(api_client, job, bob, ada):
    user_roles_set(user=bob, roles=["auditor"], actor=ada)
    body = _check(api_client, job).json()
    assert [r["code"] for r in body["reasons"]] == ["owner_inactive"]


def test_a_job_whose_owner_is_inactive_may_use_nothing_else_either(api_client, job, bob, ada):
    user_deactivate(user=bob, actor=ada, reason="left the company")
    response = api_client.get(
        "/api/v1/access/grants", HTTP_AUTHORIZATION=f"Bearer {_token_for(job)}"
    )
    assert error(response) == (403, accounts_policy.MSG_OWNER_INACTIVE)


# --- 5. Django admin bypasses the role rules ---------------------------------------------------


def _admin_change(client, user, **fields):
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
        **fields,
    }
    return client.post(f"/admin/accounts/user/{user.pk}/change/", data)


def test_django_admin_cannot_set_role_groups_staff_or_superuser_directly(client, db, ada, bob):
    client.force_login(ada)
    officer = Group.objects.get(name="privacy_officer")
    before = len(events("user.roles_changed"))
    # when an administrator posts groups, staff and superuser flags for bob
    _admin_change(
        client, bob, roles=["engineer"], groups=[officer.pk], is_staff="on", is_superuser="on"
    )
    # then none of them changed: those fields are not editable there
    bob.refresh_from_db()
    assert (bob.roles, bob.is_staff, bob.is_superuser) == (["engineer"], False, False)
    assert len(events("user.roles_changed")) == before


def test_django_admin_changes_roles_through_the_roles_service(client, db, ada, bob):
    client.force_login(ada)
    response = _admin_change(client, bob, roles=["engineer", "steward"])
    assert response.status_code == 302, response.content
    bob.refresh_from_db()
    assert bob.roles == ["engineer", "steward"]
    assert events("user.roles_changed")[-1].additional_data == {
        "before": ["engineer"],
        "after": ["engineer", "steward"],
    }
    assert events("user.roles_changed")[-1].actor_id == ada.pk


def test_nobody_changes_their_own_roles(client, db, ada):
    client.force_login(ada)
    _admin_change(client, ada, roles=["admin", "privacy_officer"])
    ada.refresh_from_db()
    assert ada.roles == ["admin"]
    assert events("user.roles_refused")[-1].additional_data["message"] == (
        accounts_policy.MSG_OWN_ROLES
    )


def test_only_a_superuser_grants_superuser(db, ada, bob):
    from governance.accounts.services import user_superuser_set
    from governance.errors import NotPermitted

    with pytest.raises(NotPermitted, match=accounts_policy.MSG_SUPERUSER_ONLY):
        user_superuser_set(user=bob, value=True, actor=ada)
    root = UserFactory(username="root", roles=["admin"])
    User.objects.filter(pk=root.pk).update(is_superuser=True)
    root.refresh_from_db()
    user_superuser_set(user=bob, value=True, actor=root)
    bob.refresh_from_db()
    assert bob.is_superuser


def test_role_groups_cannot_change_outside_the_roles_service(db, bob):
    from governance.accounts.policy import RolesOutsideService

    officer = Group.objects.get(name="privacy_officer")
    attempts = [
        lambda: bob.groups.add(officer),
        lambda: officer.user_set.add(bob),
        lambda: User.objects.get(pk=bob.pk).groups.clear(),
        lambda: _set_flag(bob, is_staff=True),
        lambda: _set_flag(bob, is_superuser=True),
    ]
    for attempt in attempts:
        with pytest.raises(RolesOutsideService), transaction.atomic():
            attempt()
    bob.refresh_from_db()
    assert (bob.roles, bob.is_staff, bob.is_superuser) == (["engineer"], False, False)


def _set_flag(user, **flags):
    fresh = User.objects.get(pk=user.pk)
    for name, value in flags.items():
        setattr(fresh, name, value)
    fresh.save()


# --- 6. An approver can approve their own benefit ---------------------------------------------


def test_a_member_of_the_requested_role_cannot_approve_the_request(
    api_client, approved_for_routing, tickets, alice, carol
):
    # given dave co-stewards support-tickets; carol (a steward) asks for role:steward
    dave = UserFactory(username="dave", roles=["steward"])
    catalog.dataset_stewards_set(actor=alice, dataset=tickets, stewards=[alice, dave])
    request = access.access_request_create(
        requester=carol,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=10,
        justification="The stewards review routing quality together.",
        principal="role:steward",
    )
    # when dave (a member of role steward) approves
    response = as_user(api_client, dave).post(f"/api/v1/access/requests/{request.pk}/approve")
    # then he would gain access himself: refused, no grant, and it is not in his inbox
    assert error(response) == (403, access_policy.MSG_BENEFICIARY)
    assert not Grant.objects.exists()
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING
    inbox = as_user(api_client, dave).get("/api/v1/access/requests?box=inbox").json()
    assert inbox["results"] == []


def test_the_owner_of_the_requested_service_account_cannot_approve_it(
    approved_for_routing, tickets, alice
):
    from governance.errors import NotPermitted

    # alice, steward of the dataset, also owns a job; her engineer colleague asks for it
    owner = alice
    user_roles_set(user=owner, roles=["steward", "engineer"], actor=None)
    make_service_account(owner, name="alices-job")
    requester = UserFactory(username="erin", roles=["engineer"])
    # requests for a service account are made by its owner; erin cannot, so alice asks and
    # another steward must decide: alice is never an approver of her own job's access
    request = access.access_request_create(
        requester=owner,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=10,
        justification="Nightly retraining of the router model.",
        principal="service_account:alices-job",
    )
    with pytest.raises(NotPermitted):
        access.access_request_approve(actor=owner, request=request)
    assert requester.pk  # erin exists but has no say


# --- 7. The inbox and the rule disagree --------------------------------------------------------


def test_an_admin_who_is_also_a_steward_approves_only_what_the_inbox_shows(
    api_client, approved_for_routing, tickets, bob
):
    # given a person with the admin and steward roles who stewards no dataset
    both = UserFactory(username="ann", roles=["admin", "steward"])
    request = access.access_request_create(
        requester=bob,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=10,
        justification="Routing model needs the sender's address.",
    )
    client = as_user(api_client, both)
    # when
    inbox = client.get("/api/v1/access/requests?box=inbox").json()["results"]
    response = client.post(f"/api/v1/access/requests/{request.pk}/approve")
    # then the list and the action agree: not hers to approve
    assert inbox == []
    assert response.status_code == 403
    assert not Grant.objects.exists()


def test_may_approve_and_approvable_by_agree_for_every_persona_and_request(
    approved_for_routing, tickets, alice, bob, carol, petra, ada, audrey, charlie
):
    dave = UserFactory(username="dave", roles=["steward"])
    ann = UserFactory(username="ann", roles=["admin", "steward"])
    catalog.dataset_stewards_set(actor=alice, dataset=tickets, stewards=[alice, dave])
    requests = [
        access.access_request_create(
            requester=requester,
            dataset=tickets,
            purpose_slug="ticket-routing",
            fields=["email"],
            duration_days=10,
            justification="A justification of twenty characters or more.",
            principal=principal,
        )
        for requester, principal in ((bob, "self"), (carol, "role:steward"), (dave, "self"))
    ]
    for person in (alice, bob, carol, petra, ada, audrey, charlie, dave, ann):
        listed = set(
            AccessRequest.objects.filter(access_policy.approvable_by(person)).values_list(
                "pk", flat=True
            )
        )
        allowed = {r.pk for r in requests if access_policy.may_approve(person, r) is None}
        assert listed == allowed, person.username


# --- neighbouring cases ------------------------------------------------------------------------


def test_an_administrator_cannot_grant_directly_to_themselves_or_a_role_they_hold(
    approved_for_routing, tickets, ada
):
    from governance.errors import NotPermitted

    for kwargs in (
        {"principal_user": ada},
        {"principal_group": Group.objects.get(name="admin")},
    ):
        with pytest.raises(NotPermitted, match="gain access"):
            access.grant_create_direct(
                actor=ada,
                dataset=tickets,
                purpose_slug="ticket-routing",
                fields=["email"],
                expires_at=timezone.now() + timedelta(days=5),
                reason="I need it for a quick look.",
                **kwargs,
            )
    assert not Grant.objects.exists()


def test_nobody_records_their_own_privacy_training(db, petra):
    from governance.errors import NotPermitted

    with pytest.raises(NotPermitted, match="own"):
        access.training_record(
            actor=petra, user=petra, course="GDPR basics", completed_at=timezone.now()
        )


def test_a_location_change_on_an_approved_dataset_never_reaches_retention(
    store, events_dataset, alice
):
    from governance.errors import Conflict

    for change in (
        {"location": "shop.other"},
        {"subject_id_field": "email"},
        {"event_time_field": "created"},
        {"connection": "warehouse2"},
    ):
        with pytest.raises(Conflict):
            catalog.dataset_update(actor=alice, dataset=events_dataset, **change)
    events_dataset.refresh_from_db()
    assert (events_dataset.location, events_dataset.subject_id_field) == (
        "shop.events",
        "customer_id",
    )


def test_a_withdrawal_run_on_a_reopened_dataset_waits_for_its_review(store, events_dataset, alice):
    from governance.retention import dispatch

    store.fill(100, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    catalog.dataset_reopen(actor=alice, dataset=events_dataset, reason="new columns")
    withdraw(["c-1"])
    dispatch.dispatch(kind="erasure")
    assert not RetentionRun.objects.exists()
    assert store.count() == 100


def test_a_steward_cannot_retire_or_version_another_stewards_purpose(client, db, alice, carol):
    from tests.consent.factories import make_purpose

    make_purpose("alices-purpose", owner=alice, legal_basis="legitimate_interests")
    client.force_login(carol)
    retire = client.post("/consent/purposes/alices-purpose/v1/retire/", {"reason": "mine now"})
    version = client.post("/consent/purposes/alices-purpose/v1/new-version/")
    assert (retire.status_code, version.status_code) == (403, 403)
    assert Purpose.objects.get(slug="alices-purpose").status == "active"
    assert Purpose.objects.filter(slug="alices-purpose").count() == 1
    assert [e.additional_data["message"] for e in events("purpose.retire_refused")] == [
        consent_policy.MSG_NOT_OWNER
    ]


def test_source_and_training_jobs_read_the_purposes_and_notices_they_need(api_client, db, bob):
    from consent.services.grants import service_account_consent_grant
    from tests.consent.factories import make_purpose

    make_purpose("churn-model", owner=UserFactory(username="sam", roles=["steward"]))
    for name, capability in (("shop-source", "record"), ("churn-job", "query")):
        account, _ = make_service_account(bob, name=name)
        service_account_consent_grant(
            service_account=account, capabilities=[capability], actor=None
        )
        response = api_client.get(
            "/api/v1/consent/purposes/churn-model",
            HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}",
        )
        assert response.status_code == 200, name
        assert response.json()["notices"][0]["version"] == 1


# --- found by the outside review of this issue ------------------------------------------------


def test_a_home_relative_location_is_refused_and_the_connector_resolves_like_the_rule(
    api_client, two_csv_datasets, carol, settings
):
    """The rule and the connector must read a location the same way: '~' is refused, and a
    relative path means the same folder to both (the project directory)."""
    from datasets.connectors import Layout, connector_for
    from datasets.locations import resolve_file

    _victim, _own, _theirs = two_csv_datasets
    response = as_user(api_client, carol).post(
        "/api/v1/datasets/create",
        {"slug": "tilde", "name": "tilde", "storage_kind": "csv", "location": "~/../x"},
        format="json",
    )
    assert error(response) == (400, catalog_policy.MSG_LOCATION_HOME)
    connector = connector_for(storage_kind="csv", location="var/data/x", layout=Layout())
    assert connector.resolved_location() == resolve_file("var/data/x")
    assert resolve_file("var/data/x") == (settings.BASE_DIR / "var/data/x").resolve()


def test_roles_are_for_people_only(db, ada, bob):
    from governance.errors import NotPermitted

    account, _ = make_service_account(bob, name="bobs-job")
    with pytest.raises(NotPermitted, match=re.escape(accounts_policy.MSG_ROLES_PEOPLE_ONLY)):
        user_roles_set(user=account.user, roles=["privacy_officer"], actor=ada)
    account.user.refresh_from_db()
    assert account.user.roles == []


def test_a_service_account_never_signs_off_even_if_it_held_a_role(db, petra, alice):
    """Defence in depth: sign-offs need an active person, whatever roles an identity holds."""
    account, _ = make_service_account(alice, name="sneaky")
    group = Group.objects.get(name="privacy_officer")
    from governance.accounts.policy import roles_service

    with roles_service():
        account.user.groups.add(group)  # as a restore from an old backup might
    dataset = make_dataset(
        alice, slug="approve-me", fields={"id": (None, "non_personal", "", "keep")}
    )
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    assert catalog_policy.may_approve(User.objects.get(pk=account.user.pk), dataset) is not None


def test_an_admin_cannot_take_over_a_job_they_granted_access_to(
    approved_for_routing, tickets, ada, bob
):
    from governance.accounts.services import service_account_transfer
    from governance.errors import NotPermitted

    account, _ = make_service_account(bob, name="fraud-training")
    access.grant_create_direct(
        actor=ada,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        expires_at=timezone.now() + timedelta(days=5),
        reason="Urgent fix of the router.",
        principal_user=account.user,
    )
    other_admin = UserFactory(username="adam", roles=["admin"])
    for actor, owner in ((ada, ada), (other_admin, ada)):
        with pytest.raises(NotPermitted):
            service_account_transfer(
                service_account=account, owner=owner, actor=actor, reason="bob left"
            )
    account.refresh_from_db()
    assert account.owner == bob


def test_django_admin_cannot_set_secrets_or_passwords(client, db, ada, petra):
    client.force_login(ada)
    password_page = client.get(f"/admin/accounts/user/{petra.pk}/password/")
    assert password_page.status_code == 403
    assert client.get("/admin/oauth2_provider/application/").status_code in (403, 404)
    root = UserFactory(username="root", roles=["admin"])
    User.objects.filter(pk=root.pk).update(is_superuser=True)
    assert client.get(f"/admin/accounts/user/{root.pk}/change/").status_code in (302, 403)


def test_a_scan_of_an_approved_dataset_adds_no_field(db, alice, petra, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from datasets.services import scan_run, scan_start

    settings.SCANNER_UPLOAD_DIR = tmp_path
    dataset = make_dataset(
        alice, slug="approved", fields={"id": (None, "non_personal", "", "keep")}
    )
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    upload = SimpleUploadedFile("s.csv", b"id,email\n1,a@example.com\n2,b@example.com\n")
    scan = scan_start(actor=alice, dataset=dataset, upload=upload)
    scan = scan_run(scan_id=scan.pk)
    assert list(dataset.fields.values_list("name", flat=True)) == ["id"]
    assert scan.summary["unlisted_columns"] == ["email"]


def test_the_check_denies_a_field_nobody_classified(db):
    from governance.access import decision as rules

    facts = rules.Facts(
        now=timezone.now(),
        principal_active=True,
        dataset_found=True,
        dataset_status="approved",
        dataset_fields={"email": ""},
        purpose_found=True,
        purpose_status="active",
        approval_found=True,
        grants=(
            rules.GrantFact(
                id=1,
                status="active",
                starts_at=timezone.now() - timedelta(days=1),
                expires_at=timezone.now() + timedelta(days=1),
                fields=("email",),
                acknowledged=True,
            ),
        ),
        any_grant_on_dataset=True,
    )
    decision = rules.decide(facts)
    assert (decision.allow, [r["code"] for r in decision.reasons]) == (
        False,
        ["field_unclassified"],
    )


def test_a_symlink_inside_a_datasets_folder_cannot_reach_another_datasets_file(
    two_csv_datasets, carol
):
    from datasets.connectors import ConnectorError, Layout, connector_for

    _victim, _own, theirs = two_csv_datasets
    mine = theirs.parent / "carol-events"
    (mine / "linked.csv").symlink_to(theirs / "events.csv")
    connector = connector_for(storage_kind="csv", location=str(mine), layout=Layout())
    with pytest.raises(ConnectorError) as raised:
        connector.preview(
            __import__("datasets.connectors", fromlist=["Criteria"]).Criteria(everything=True)
        )
    assert raised.value.code == "forbidden"
    assert "linked.csv" in raised.value.message


def test_one_database_under_two_names_is_one_place(settings, db):
    from datasets.locations import overlaps, physical_location

    settings.RETENTION_CONNECTIONS = {
        "shop": "postgres://u@127.0.0.1:5432/shopdb",
        "alias": "postgres://u@localhost/other?dbname=shopdb&port=5432",
        "other": "postgres://u@127.0.0.1:5432/otherdb",
    }

    def table(connection):
        return physical_location(
            storage_kind="postgres_table", location="shop.events", connection=connection
        )

    assert overlaps(table("shop"), table("alias"))
    assert not overlaps(table("shop"), table("other"))


def test_a_person_without_any_role_cannot_use_a_personal_grant(
    api_client, approved_for_routing, tickets, bob, alice, ada
):
    request = request_and_approve(bob, alice, tickets, fields=("email",))
    access.grant_acknowledge(actor=bob, grant=request.grant)
    user_roles_set(user=bob, roles=[], actor=ada)
    result = access.check_access(
        principal=User.objects.get(pk=bob.pk),
        dataset_slug="support-tickets",
        purpose_slug="ticket-routing",
    )
    assert [r["code"] for r in result.decision.reasons] == ["principal_no_role"]


def test_whoever_edited_a_purpose_draft_cannot_activate_it(db, alice, petra):
    from consent import services as consent
    from governance.errors import NotPermitted
    from tests.consent.factories import make_purpose

    purpose = make_purpose(
        "edited", status="draft", owner=alice, legal_basis="legitimate_interests"
    )
    consent.purpose_update(
        purpose=purpose, actor=petra, data_categories=["user.behavior", "user.financial"]
    )
    consent.purpose_submit(purpose=purpose, actor=alice)
    with pytest.raises(NotPermitted, match="created, edited or submitted"):
        consent.purpose_activate(purpose=purpose, actor=petra)


def test_whoever_classified_a_field_cannot_approve_the_dataset(db, petra):
    from governance.errors import NotPermitted

    both = UserFactory(username="pat", roles=["steward", "privacy_officer"])
    sam = UserFactory(username="sam", roles=["steward"])
    dataset = make_dataset(
        sam, slug="classified", fields={"id": (None, "non_personal", "", "keep")}
    )
    catalog.dataset_stewards_set(actor=sam, dataset=dataset, stewards=[sam, both])
    extra = catalog.field_create(actor=sam, dataset=dataset, name="score")
    catalog.field_classify(
        actor=both, field=extra, category=None, role="non_personal", treatment="keep"
    )
    catalog.dataset_submit(actor=sam, dataset=dataset, **ANSWERS)
    with pytest.raises(NotPermitted):
        catalog.dataset_approve(actor=both, dataset=dataset, note="Checked as described.")


def test_reopening_a_retired_dataset_rechecks_its_location(db, alice, tmp_path):
    from governance.errors import Conflict

    folder = tmp_path / "shared"
    folder.mkdir()
    first = make_dataset(alice, slug="reuse-a", storage_kind="csv", location=str(folder))
    catalog.dataset_retire(actor=alice, dataset=first, reason="moved")
    make_dataset(alice, slug="reuse-b", storage_kind="csv", location=str(folder))
    with pytest.raises(Conflict, match="belongs to exactly one dataset"):
        catalog.dataset_reopen(actor=alice, dataset=first, reason="back")
    first.refresh_from_db()
    assert first.status == "retired"


def test_a_page_refused_with_a_conflict_is_a_409_page_not_a_500(client, db, alice):
    dataset = make_dataset(alice, slug="gone")
    catalog.dataset_retire(actor=alice, dataset=dataset, reason="done")
    client.force_login(alice)
    response = client.get("/datasets/gone/edit/")
    assert response.status_code == 409
    assert b"retired" in response.content


def test_every_api_refusal_is_in_the_ledger(api_client, db, bob, ada):
    client = as_user(api_client, bob)
    before = LedgerEntry.objects.count()
    answers = [
        client.post(
            "/api/v1/consent/events",
            {"namespace": "shop", "subject_id": "c-1", "purpose": "x", "status": "given"},
            format="json",
        ),
        client.post(
            "/api/v1/datasets/categories/create",
            {"key": "user.x", "name": "x", "default_role": "sensitive"},
            format="json",
        ),
        client.get("/api/v1/consent/subjects/shop/c-1"),
        client.post(
            "/api/v1/access/check",
            {"dataset": "d", "purpose": "p", "principal": "user:ada"},
            format="json",
        ),
    ]
    assert [r.status_code for r in answers] == [403, 403, 403, 403]
    refusals = list(LedgerEntry.objects.filter(pk__gt=0).order_by("id")[before:])
    assert len([e for e in refusals if e.event.endswith("refused")]) == 4


def test_asking_for_a_role_you_do_not_hold_is_forbidden_not_invalid(
    api_client, approved_for_routing, tickets, bob
):
    response = as_user(api_client, bob).post(
        "/api/v1/access/requests/create",
        {
            "dataset": "support-tickets",
            "purpose": "ticket-routing",
            "fields": ["email"],
            "duration_days": 5,
            "justification": "A justification of twenty characters.",
            "principal": "role:privacy_officer",
        },
        format="json",
    )
    assert response.status_code == 403


def test_approving_a_draft_dataset_is_a_conflict(api_client, db, alice, petra):
    make_dataset(alice, slug="still-draft", fields={"id": (None, "non_personal", "", "keep")})
    response = as_user(api_client, petra).post("/api/v1/datasets/still-draft/approve")
    assert response.status_code == 409


def test_a_superuser_without_a_role_has_no_governance_powers(api_client, db):
    root = UserFactory(username="root", roles=[])
    User.objects.filter(pk=root.pk).update(is_superuser=True)
    root.refresh_from_db()
    client = as_user(api_client, root)
    assert (
        client.post(
            "/api/v1/consent/filter",
            {"purpose": "x", "namespace": "shop", "subject_ids": ["c-1"]},
            format="json",
        ).status_code
        == 403
    )
    assert client.get("/api/v1/consent/purposes").status_code == 403


def test_owner_choices_offer_only_people_who_may_own(db, ada, audrey):
    from governance.accounts.forms import ServiceAccountCreateForm

    nobody = UserFactory(username="nobody", roles=[])
    choices = set(ServiceAccountCreateForm().fields["owner"].queryset)
    assert ada in choices
    assert audrey not in choices
    assert nobody not in choices
