"""Portal pages of retention: the overview, a dataset's retention page (effective retention,
purpose bounds, holds, the policy form, the dry run, "Run now"), a run with its certificate,
legal holds and erasure requests — who sees what, what each POST changes, and that refused
input changes nothing but is recorded."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from datasets import services as catalog
from governance.access import services as access
from governance.audit.models import LedgerEntry
from governance.retention import planning, runner, services
from governance.retention.models import (
    ErasureRequest,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)
from tests.accounts.factories import UserFactory
from tests.datasets.factories import ANSWERS, make_dataset
from tests.retention.conftest import EVENT_FIELDS, give_consent, set_policy, withdraw

pytestmark = pytest.mark.django_db

PAGE = "/retention/datasets/shop-events/"


@pytest.fixture
def carol(db):
    """A steward of other datasets."""
    return UserFactory(username="carol", roles=["steward"])


@pytest.fixture
def policy(store, events_dataset, alice):
    return set_policy(dataset=events_dataset, actor=alice, max_age_days=180)


def text(response) -> str:
    return html.unescape(response.content.decode())


def events(name: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(event=name).order_by("id"))


def logged_in(client, user):
    client.force_login(user)
    return client


def policy_form(**overrides) -> dict:
    return {
        "max_age_days": "90",
        "grace_days": "3",
        "expires_on": "",
        "action": "delete",
        "connection": "warehouse",
        "subject_namespace": "shop",
        "enabled": "on",
    } | overrides


def expired_rows(rows: int, *, days: int = 730, max_age: int = 180) -> set[int]:
    """Row ids Store.fill gives an event time older than ``max_age`` days (12 h off a day)."""
    return {g for g in range(1, rows + 1) if g % days >= max_age}


# --- overview ------------------------------------------------------------------------------


def test_the_overview_lists_the_stewards_datasets_with_policy_and_last_run(
    client, store, events_dataset, policy, alice, carol
):
    # given a finished run
    run = services.run_start(dataset=events_dataset, actor=alice)
    runner.run_execute(run_id=run.pk)
    make_dataset(carol, slug="carol-data")
    # when
    page = text(logged_in(client, alice).get("/retention/"))
    # then
    assert '<a href="/retention/datasets/shop-events/">shop-events</a>' in page
    assert "180 days · delete" in page
    assert f'<a href="/retention/runs/{run.pk}/">succeeded</a>' in page
    assert "carol-data" not in page  # not alice's
    assert 'data-testid="sla-open"' not in page  # erasure requests are not a steward's


def test_the_overview_shows_the_sla_to_privacy_officers_and_is_closed_to_outsiders(
    client, store, events_dataset, policy, petra, charlie
):
    services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=date(2026, 1, 31),
        datasets=[events_dataset],
    )
    page = text(logged_in(client, petra).get("/retention/"))
    assert '<span data-testid="sla-open">1</span>' in page
    assert '<strong data-testid="sla-overdue">1</strong>' in page
    assert "shop-events" in page
    assert logged_in(client, charlie).get("/retention/").status_code == 403


def _governed(steward, slug: str, petra) -> None:
    """A dataset with a policy, a finished run and an active hold: everything the overview
    shows per row."""
    dataset = make_dataset(steward, slug=slug, storage_kind="csv", location=f"/data/{slug}.csv")
    RetentionPolicy.objects.create(
        dataset=dataset, max_age_days=30, created_by=steward, updated_by=steward
    )
    RetentionRun.objects.create(
        dataset=dataset, kind="retention", trigger="schedule", status="succeeded"
    )
    LegalHold.objects.create(dataset=dataset, reason="Inquiry", placed_by=petra)


@pytest.mark.parametrize("persona", ["alice", "petra"])
def test_the_overview_needs_the_same_number_of_queries_for_2_or_6_datasets(
    persona, request, client, alice, petra, django_assert_num_queries
):
    # given two governed datasets
    user = request.getfixturevalue(persona)
    logged_in(client, user)
    for number in range(2):
        _governed(alice, f"set-{number}", petra)
    client.get("/retention/")  # warm the session and per-user caches
    with CaptureQueriesContext(connection) as two:
        first = client.get("/retention/")
    # when four more are added
    for number in range(2, 6):
        _governed(alice, f"set-{number}", petra)
    # then the page lists six with exactly as many queries as it listed two with
    with django_assert_num_queries(len(two.captured_queries)):
        second = client.get("/retention/")
    assert text(first).count('<span class="badge status-retired">on hold</span>') == 2
    assert text(second).count('<span class="badge status-retired">on hold</span>') == 6
    assert text(second).count("30 days · delete") == 6


# --- a dataset's retention page ------------------------------------------------------------


def test_the_dataset_page_shows_the_effective_maximum_age_and_its_purpose_bound(
    client, store, events_dataset, alice
):
    # given a policy longer than the purpose's retention period
    set_policy(dataset=events_dataset, actor=alice, max_age_days=600, grace_days=2)
    # when
    response = logged_in(client, alice).get(PAGE)
    # then the stricter (the purpose's 365 days) wins
    page = text(response)
    assert response.status_code == 200
    assert (
        '<td data-testid="effective-max-age">365 days <small>(purpose churn-model v1)</small></td>'
        in page
    )
    assert "<h3>Purposes bounding it (the stricter wins)</h3>" in page
    assert (
        "<tr><td>churn-model v1</td><td>365 days</td><td>consent (withdrawals erase)</td></tr>"
        in page
    )
    assert "<th>Grace period</th><td>2 days</td>" in page
    cutoff = response.context["plan"].cutoff
    assert cutoff.date() == (timezone.now() - timedelta(days=367)).date()
    assert 'data-testid="policy-form"' in page
    assert 'data-testid="run-now"' in page
    assert 'data-testid="hold-banner"' not in page


def test_a_shorter_policy_than_the_purpose_is_the_effective_maximum_age(
    client, store, events_dataset, policy, audrey
):
    page = text(logged_in(client, audrey).get(PAGE))
    assert (
        '<td data-testid="effective-max-age">180 days <small>(the dataset\'s policy)</small></td>'
        in page
    )
    # an auditor reads, changes nothing
    assert 'data-testid="policy-form"' not in page
    assert 'data-testid="run-now"' not in page


def test_an_active_dataset_hold_shows_a_banner_until_it_is_released(
    client, store, events_dataset, policy, alice, petra
):
    # given
    hold = services.hold_place(
        actor=petra, dataset=events_dataset, reason="Regulator inquiry 12", reference="REG-12"
    )
    client = logged_in(client, alice)
    # when
    held = text(client.get(PAGE))
    services.hold_release(hold_id=hold.pk, actor=petra, reason="Inquiry closed")
    released = text(client.get(PAGE))
    # then
    assert 'data-testid="hold-banner"' in held
    assert "Legal hold: nothing in this dataset is deleted while it stands." in held
    today = timezone.now().date().isoformat()
    assert f"<li>Regulator inquiry 12 (petra, {today}, REG-12)</li>" in held
    assert 'data-testid="hold-banner"' not in released


def test_subjects_that_cannot_be_found_without_a_subject_id_field_are_a_warning(
    client, store, churn, alice, petra
):
    # given shop.events cataloged without its subject-id field, and c-1 withdrew consent
    dataset = make_dataset(
        alice,
        slug="shop-raw",
        fields=EVENT_FIELDS,
        storage_kind="postgres_table",
        location="shop.events",
        connection="warehouse",
        event_time_field="event_time",
    )
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    access.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug="churn-model")
    give_consent(["c-1", "c-2"])
    withdraw(["c-1"])
    set_policy(dataset=dataset, actor=alice, max_age_days=180)
    store.fill(200, subjects=5)
    client = logged_in(client, alice)
    # when
    page = text(client.get("/retention/datasets/shop-raw/"))
    preview = text(client.get("/retention/datasets/shop-raw/preview", HTTP_HX_REQUEST="true"))
    # then both say so, and deletion by age goes on
    warning = planning.MSG_NEEDS_SUBJECT_FIELD.format(count=1)
    assert f'<p role="alert" data-testid="plan-warning">{warning}</p>' in page
    assert 'data-testid="plan-problem"' not in page
    assert f'<p role="alert" data-testid="preview-warning">{warning}</p>' in preview
    expired = {g for g in range(1, 201) if g % 730 >= 180}
    assert f'<td data-testid="preview-rows">{len(expired)}</td>' in preview


def test_the_steward_saves_a_policy_through_the_form(client, store, events_dataset, alice):
    # when
    response = logged_in(client, alice).post(PAGE, policy_form())
    # then
    assert response.status_code == 302
    assert response["Location"] == PAGE
    saved = RetentionPolicy.objects.get(dataset=events_dataset)
    assert (saved.max_age_days, saved.grace_days, saved.enabled) == (90, 3, True)
    assert saved.dataset.connection == "warehouse"
    assert (saved.subject_namespace, saved.updated_by) == ("shop", alice)
    assert "Retention policy saved." in text(client.get(PAGE))
    (entry,) = events("retention.policy_set")
    assert entry.actor == alice


def test_a_policy_the_service_refuses_shows_the_error_at_the_field_and_saves_nothing(
    client, store, events_dataset, policy, alice
):
    # when
    response = logged_in(client, alice).post(PAGE, policy_form(grace_days="5000"))
    # then
    assert response.status_code == 400
    assert response.context["form"].errors == {"grace_days": [services.MSG_GRACE]}
    assert services.MSG_GRACE in text(response)
    policy.refresh_from_db()
    assert (policy.max_age_days, policy.grace_days) == (180, 0)
    assert len(events("retention.policy_set")) == 1  # the fixture's
    (refusal,) = events("retention.policy_refused")
    assert (refusal.actor, refusal.additional_data["message"]) == (alice, services.MSG_GRACE)


def test_a_policy_form_that_does_not_parse_is_a_400_and_saves_nothing(
    client, store, events_dataset, policy, alice
):
    response = logged_in(client, alice).post(PAGE, policy_form(max_age_days="a year"))
    assert response.status_code == 400
    assert response.context["form"].errors == {"max_age_days": ["Enter a whole number."]}
    policy.refresh_from_db()
    assert policy.max_age_days == 180
    assert len(events("retention.policy_set")) == 1


def test_a_steward_of_another_dataset_cannot_see_or_set_its_policy(
    client, store, events_dataset, policy, carol
):
    # when
    client = logged_in(client, carol)
    page = client.get(PAGE)
    posted = client.post(PAGE, policy_form(max_age_days="1"))
    # then
    assert page.status_code == 403
    assert posted.status_code == 403
    policy.refresh_from_db()
    assert (policy.max_age_days, policy.updated_by.username) == (180, "alice")
    (refusal,) = events("retention.policy_refused")
    assert (refusal.actor, refusal.object_pk) == (carol, str(events_dataset.pk))
    assert refusal.additional_data["message"] == services.MSG_POLICY_FORBIDDEN


def test_an_unknown_dataset_is_a_404(client, alice):
    client = logged_in(client, alice)
    assert client.get("/retention/datasets/no-such-data/").status_code == 404
    assert client.post("/retention/datasets/no-such-data/", policy_form()).status_code == 404
    assert client.post("/retention/datasets/no-such-data/run").status_code == 404


# --- the dry run and "Run now" -------------------------------------------------------------


def test_the_preview_through_htmx_renders_the_counts_and_deletes_nothing(
    client, store, events_dataset, policy, alice
):
    # given
    store.fill(2000, subjects=20)
    expired = expired_rows(2000)
    # when
    response = logged_in(client, alice).get(f"{PAGE}preview", HTTP_HX_REQUEST="true")
    # then a fragment for #preview, not a page
    page = text(response)
    assert response.status_code == 200
    assert "<html" not in page
    assert '<tr data-testid="preview-delete">' in page
    assert f'<td data-testid="preview-rows">{len(expired)}</td>' in page
    assert '<td data-testid="preview-subjects">20</td>' in page
    assert store.count() == 2000
    assert not RetentionRun.objects.exists()
    assert events("retention.previewed")[0].additional_data["totals"]["rows"] == len(expired)


def test_the_preview_without_htmx_is_a_page_and_shows_a_store_error(
    client, store, events_dataset, policy, alice, settings
):
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://postgres@127.0.0.1:1/x"}
    response = logged_in(client, alice).get(f"{PAGE}preview")
    page = text(response)
    assert response.status_code == 200
    assert "<h1>Dry run of" in page
    assert (
        services.MSG_PREVIEW_STORE.format(
            reason="Could not connect to the database at 127.0.0.1:1/x: "
        )
        in page
    )
    (refusal,) = events("retention.preview_refused")
    assert refusal.actor == alice


def test_an_outsider_cannot_preview(client, store, events_dataset, policy, charlie):
    response = logged_in(client, charlie).get(f"{PAGE}preview", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert events("retention.previewed") == []
    (refusal,) = events("retention.preview_refused")
    assert refusal.additional_data["message"] == services.MSG_VIEW_FORBIDDEN


def test_run_now_queues_a_run_and_its_page_polls_until_the_certificate_shows(
    client, store, events_dataset, policy, alice, django_capture_on_commit_callbacks
):
    # given
    store.fill(2000, subjects=20)
    expired = expired_rows(2000)
    client = logged_in(client, alice)
    # "Run now" first repeats the dry run's counts and asks to confirm
    confirm = text(client.get(f"{PAGE}run"))
    assert f'<td data-testid="preview-rows">{len(expired)}</td>' in confirm
    assert f"Delete {len(expired)} row(s) now" in confirm
    assert 'data-confirm-text="shop-events"' in confirm
    # without the slug and the tick nothing is queued, and both errors show
    refused = client.post(f"{PAGE}run", {"kind": "retention", "confirm": "shop"})
    assert refused.status_code == 400
    assert "Type the dataset's slug, shop-events, to confirm." in text(refused)
    assert "Tick the box" in text(refused)
    assert not RetentionRun.objects.exists()
    # when
    shown = hidden_inputs(confirm)
    assert (shown["expected_rows"], shown["expected_files"]) == (str(len(expired)), "0")
    confirmed = {**shown, "confirm": "shop-events", "understood": "on"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"{PAGE}run", confirmed)
    # then
    run = RetentionRun.objects.get()
    queued_event = events("retention.run_queued")[0]
    assert queued_event.additional_data["confirmed_preview"] == {
        "rows": len(expired),
        "files": 0,
        "fingerprint": shown["fingerprint"],
        "typed_slug": True,
    }
    assert (run.status, run.trigger, run.requested_by) == ("queued", "manual", alice)
    assert len(callbacks) == 1
    assert response.status_code == 302
    assert response["Location"] == f"/retention/runs/{run.pk}/"
    queued = text(client.get(response["Location"]))
    assert f"Run {run.pk} queued." in queued
    assert 'data-status="queued"' in queued
    assert f'hx-get="/retention/runs/{run.pk}/" hx-trigger="load delay:1s"' in queued
    page = text(client.get(PAGE))
    assert 'data-testid="run-now"' not in page
    assert f"Run {run.pk} is queued" in page
    # when the worker has executed it, the next poll answers the finished status
    runner.run_execute(run_id=run.pk)
    polled = text(client.get(f"/retention/runs/{run.pk}/", HTTP_HX_REQUEST="true"))
    assert "<html" not in polled
    assert 'data-status="succeeded"' in polled
    assert "hx-get" not in polled
    assert f'<td data-testid="certificate-rows">{len(expired)}</td>' in polled
    assert '<td data-testid="certificate-outcome">succeeded</td>' in polled
    assert "delete: 0 row(s) remain" in polled
    run.refresh_from_db()
    assert f'<code data-testid="certificate-sha256">{run.certificate.sha256}</code>' in polled


def test_run_now_is_refused_to_people_who_do_not_manage_the_dataset(
    client, store, events_dataset, policy, carol, audrey
):
    for user in (carol, audrey):
        response = logged_in(client, user).post(f"{PAGE}run", {"kind": "retention"})
        assert response.status_code == 403
    assert not RetentionRun.objects.exists()
    refusals = events("retention.run_refused")
    assert [(r.actor, r.additional_data["message"]) for r in refusals] == [
        (carol, services.MSG_POLICY_FORBIDDEN),
        (audrey, services.MSG_POLICY_FORBIDDEN),
    ]


def test_run_now_without_a_policy_returns_to_the_page_with_the_reason(
    client, store, events_dataset, alice
):
    confirmed = {"kind": "retention", "confirm": "shop-events", "understood": "on"}
    response = logged_in(client, alice).post(f"{PAGE}run", confirmed, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert services.MSG_RUN_NO_POLICY in text(response)
    assert not RetentionRun.objects.exists()
    assert len(events("retention.run_refused")) == 1


def test_a_run_of_a_dataset_one_may_not_see_is_a_404(
    client, store, events_dataset, policy, alice, carol
):
    run = services.run_start(dataset=events_dataset, actor=alice)
    assert logged_in(client, carol).get(f"/retention/runs/{run.pk}/").status_code == 404


# --- legal holds ---------------------------------------------------------------------------


def test_a_privacy_officer_places_and_releases_a_hold_on_the_holds_page(
    client, store, events_dataset, petra
):
    client = logged_in(client, petra)
    # when she places a hold on the dataset
    placed = client.post(
        "/retention/holds/",
        {
            "dataset": "shop-events",
            "namespace": "default",
            "external_id": "",
            "reason": "Regulator inquiry 12",
            "reference": "REG-12",
        },
    )
    # then
    assert (placed.status_code, placed["Location"]) == (302, "/retention/holds/")
    hold = LegalHold.objects.get()
    assert (hold.dataset, hold.external_id, hold.placed_by) == (events_dataset, "", petra)
    page = text(client.get("/retention/holds/"))
    assert "Legal hold placed: nothing it covers is deleted." in page
    assert "<td>dataset shop-events</td>" in page
    assert f'action="/retention/holds/{hold.pk}/release"' in page
    # when she releases it without a reason, then with one
    refused = text(client.post(f"/retention/holds/{hold.pk}/release", {}, follow=True))
    hold.refresh_from_db()
    assert services.MSG_RELEASE_REASON in refused
    assert hold.is_active
    released = text(
        client.post(
            f"/retention/holds/{hold.pk}/release", {"reason": "Inquiry closed"}, follow=True
        )
    )
    hold.refresh_from_db()
    assert "Legal hold released." in released
    assert (hold.is_active, hold.released_by, hold.release_reason) == (
        False,
        petra,
        "Inquiry closed",
    )
    today = timezone.now().date().isoformat()
    assert f"released {today} by petra" in released
    assert [r.additional_data["message"] for r in events("retention.hold_refused")] == [
        services.MSG_RELEASE_REASON
    ]


def test_a_hold_without_a_scope_shows_the_error_and_places_nothing(client, petra):
    response = logged_in(client, petra).post(
        "/retention/holds/", {"namespace": "default", "reason": "Litigation"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors == {"dataset": [services.MSG_HOLD_SCOPE]}
    assert not LegalHold.objects.exists()
    (refusal,) = events("retention.hold_refused")
    assert refusal.additional_data["message"] == services.MSG_HOLD_SCOPE


def test_stewards_may_not_see_place_or_release_holds(client, store, events_dataset, alice, petra):
    # given
    hold = services.hold_place(actor=petra, dataset=events_dataset, reason="Inquiry")
    client = logged_in(client, alice)
    # when
    page = client.get("/retention/holds/")
    placed = client.post("/retention/holds/", {"dataset": "shop-events", "reason": "Mine"})
    released = client.post(f"/retention/holds/{hold.pk}/release", {"reason": "Mine"})
    # then
    assert (page.status_code, placed.status_code, released.status_code) == (403, 403, 403)
    assert list(LegalHold.objects.values_list("pk", "released_at")) == [(hold.pk, None)]
    refusals = events("retention.hold_refused")
    assert [(r.actor, r.additional_data["message"]) for r in refusals] == [
        (alice, services.MSG_PRIVACY_ONLY),
        (alice, services.MSG_PRIVACY_ONLY),
    ]


# --- erasure requests ----------------------------------------------------------------------


def test_the_requests_page_shows_the_sla_and_each_requests_days(
    client, store, events_dataset, policy, petra
):
    # given one overdue request, one due within a week and one due in a month
    today = timezone.now().date()
    soon = today - timedelta(days=27)  # due 1 to 4 days from today
    made = [
        services.erasure_request_create(
            actor=petra,
            namespace="shop",
            external_id=subject,
            received_on=received,
            datasets=[events_dataset],
        )
        for subject, received in (
            ("c-1", date(2026, 1, 31)),
            ("c-2", soon),
            ("c-3", today),
        )
    ]
    # when
    response = logged_in(client, petra).get("/retention/erasure-requests/")
    # then
    page = text(response)
    overdue = (today - date(2026, 2, 28)).days
    assert (
        '<p data-testid="sla">3 open · <strong>1 overdue</strong> · 1 due within 7 days · '
        "next due 2026-02-28</p>"
    ) in page
    assert f'<strong class="overdue">{overdue} day(s) overdue</strong>' in page
    assert f"<td>{made[1].days_left()} day(s) left</td>" in page
    assert f"<td>{made[2].days_left()} day(s) left</td>" in page
    assert 1 <= made[1].days_left() <= 4
    assert page.count("shop-events: pending") == 3
    assert 'data-testid="request-form"' in page


def test_a_privacy_officer_records_a_request_through_the_form(
    client, store, events_dataset, policy, petra
):
    response = logged_in(client, petra).post(
        "/retention/erasure-requests/",
        {
            "namespace": "shop",
            "external_id": "c-3",
            "received_on": "2026-01-31",
            "datasets": ["shop-events"],
            "reference": "DSR-1",
        },
    )
    created = ErasureRequest.objects.get()
    assert (response.status_code, response["Location"]) == (
        302,
        f"/retention/erasure-requests/{created.pk}/",
    )
    assert (created.external_id, created.due_on) == ("c-3", date(2026, 2, 28))
    page = text(client.get(response["Location"]))
    assert f"Erasure request {created.pk} recorded." in page
    assert '<td data-testid="due-on">2026-02-28' in page


def test_a_request_received_in_the_future_is_refused_at_the_field(
    client, store, events_dataset, policy, petra
):
    tomorrow = timezone.now().date() + timedelta(days=1)
    response = logged_in(client, petra).post(
        "/retention/erasure-requests/",
        {"namespace": "shop", "external_id": "c-3", "received_on": tomorrow.isoformat()},
    )
    assert response.status_code == 400
    assert response.context["form"].errors == {"received_on": [services.MSG_RECEIVED_FUTURE]}
    assert not ErasureRequest.objects.exists()
    (refusal,) = events("retention.erasure_refused")
    assert refusal.additional_data["message"] == services.MSG_RECEIVED_FUTURE


@time_machine.travel(datetime(2026, 2, 10, 9, tzinfo=UTC), tick=False)
def test_a_request_is_extended_once_with_a_reason_then_rejected(
    client, store, events_dataset, policy, petra
):
    # given a request received on 31 January, on 10 February (within the first month)
    created = services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=date(2026, 1, 31),
        datasets=[events_dataset],
    )
    url = f"/retention/erasure-requests/{created.pk}/"
    client = logged_in(client, petra)
    page = text(client.get(url))
    assert f'action="{url}extend"' in page
    # when extending without a reason, then with one
    refused = text(client.post(f"{url}extend", {"reason": " "}, follow=True))
    created.refresh_from_db()
    assert services.MSG_EXTENSION_REASON in refused
    assert (created.extended, created.due_on) == (False, date(2026, 2, 28))
    extended = text(client.post(f"{url}extend", {"reason": "Backups."}, follow=True))
    created.refresh_from_db()
    # then the deadline is three months from receipt, and can be extended no more
    assert "Deadline extended by two months." in extended
    assert (created.extended, created.due_on) == (True, date(2026, 4, 30))
    assert '<td data-testid="due-on">2026-04-30' in extended
    assert "<th>Extended because</th><td>Backups.</td>" in extended
    assert f'action="{url}extend"' not in extended
    again = text(client.post(f"{url}extend", {"reason": "More."}, follow=True))
    assert services.MSG_ALREADY_EXTENDED in again
    # when rejecting without the exemption, then with it
    refused = text(client.post(f"{url}reject", {"reason": ""}, follow=True))
    assert services.MSG_REJECTION_REASON in refused
    rejected = text(client.post(f"{url}reject", {"reason": "Art. 17(3)(e)."}, follow=True))
    created.refresh_from_db()
    assert "Request rejected." in rejected
    assert (created.status, created.rejection_reason) == ("rejected", "Art. 17(3)(e).")
    assert "<th>Rejected because</th><td>Art. 17(3)(e).</td>" in rejected
    assert f'action="{url}reject"' not in rejected
    assert [r.additional_data["message"] for r in events("retention.erasure_refused")] == [
        services.MSG_EXTENSION_REASON,
        services.MSG_ALREADY_EXTENDED,
        services.MSG_REJECTION_REASON,
    ]


def test_stewards_may_not_see_or_handle_erasure_requests(
    client, store, events_dataset, policy, petra, alice
):
    created = services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=date(2026, 1, 31),
        datasets=[events_dataset],
    )
    client = logged_in(client, alice)
    url = f"/retention/erasure-requests/{created.pk}/"
    assert client.get("/retention/erasure-requests/").status_code == 403
    assert client.get(url).status_code == 403
    assert client.post(f"{url}extend", {"reason": "Mine."}).status_code == 403
    assert client.post(f"{url}reject", {"reason": "Mine."}).status_code == 403
    new_request = {"namespace": "shop", "external_id": "c-4", "received_on": "2026-01-31"}
    assert client.post("/retention/erasure-requests/", new_request).status_code == 403
    created.refresh_from_db()
    assert (created.status, created.extended) == ("open", False)
    assert list(ErasureRequest.objects.values_list("pk", flat=True)) == [created.pk]
    refusals = events("retention.erasure_refused")
    assert [(r.actor, r.additional_data["message"]) for r in refusals] == [
        (alice, services.MSG_PRIVACY_ONLY),
        (alice, services.MSG_PRIVACY_ONLY),
        (alice, services.MSG_PRIVACY_ONLY),
    ]


def test_the_auditor_reads_requests_without_the_forms(
    client, store, events_dataset, policy, petra, audrey
):
    created = services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=date(2026, 1, 31),
        datasets=[events_dataset],
    )
    client = logged_in(client, audrey)
    listing = text(client.get("/retention/erasure-requests/"))
    detail = text(client.get(f"/retention/erasure-requests/{created.pk}/"))
    posted = client.post(
        "/retention/erasure-requests/",
        {"namespace": "shop", "external_id": "c-4", "received_on": "2026-01-31"},
    )
    assert f'<a href="/retention/erasure-requests/{created.pk}/">{created.pk}</a>' in listing
    assert 'data-testid="request-form"' not in listing
    assert re.search(r'action="[^"]*/(extend|reject)"', detail) is None
    assert posted.status_code == 403
    assert ErasureRequest.objects.count() == 1
    (refusal,) = events("retention.erasure_refused")
    assert (refusal.actor, refusal.additional_data["message"]) == (
        audrey,
        services.MSG_PRIVACY_ONLY,
    )


def hidden_inputs(page: str) -> dict[str, str]:
    """The hidden fields of a page's forms, as a browser would post them back."""
    found = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag and "csrfmiddlewaretoken" not in tag:
            name = re.search(r'name="([^"]*)"', tag).group(1)
            value = re.search(r'value="([^"]*)"', tag)
            found[name] = value.group(1) if value else ""
    return found


def test_a_stale_run_now_page_is_refused_with_the_new_counts_and_a_posted_form_runs_once(
    client, store, events_dataset, policy, alice, django_capture_on_commit_callbacks
):
    # given alice opens "Run now" under a 180-day policy
    store.fill(2000, subjects=20)
    client = logged_in(client, alice)
    stale = hidden_inputs(text(client.get(f"{PAGE}run")))
    assert stale["expected_rows"] == str(len(expired_rows(2000)))
    assert stale["fingerprint"]
    # and someone tightens the policy before she submits
    set_policy(dataset=events_dataset, actor=alice, max_age_days=90)
    now_rows = len(expired_rows(2000, max_age=90))
    # when she submits the page she saw
    posted = {**stale, "confirm": "shop-events", "understood": "on"}
    response = client.post(f"{PAGE}run", posted)
    # then nothing runs; the page says what changed and asks again with the new counts
    assert response.status_code == 409
    page = text(response)
    assert f"What you confirmed changed: now {now_rows} row(s) and 0 file(s)." in page
    assert f"Delete {now_rows} row(s) now" in page
    assert hidden_inputs(page)["expected_rows"] == str(now_rows)
    assert not RetentionRun.objects.exists()
    # when she confirms the new counts, one run starts; posting the same form again starts none
    fresh = {**hidden_inputs(page), "confirm": "shop-events", "understood": "on"}
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(f"{PAGE}run", fresh).status_code == 302
    run = RetentionRun.objects.get()
    runner.run_execute(run_id=run.pk)
    replay = client.post(f"{PAGE}run", fresh)
    assert replay.status_code == 409
    assert "What you confirmed changed" in text(replay)
    assert RetentionRun.objects.count() == 1


def test_the_preview_button_is_a_plain_get_form_that_works_without_javascript(
    client, store, events_dataset, policy, alice
):
    from django.urls import reverse

    url = reverse("retention:preview", args=["shop-events"])
    page = text(logged_in(client, alice).get(PAGE))
    assert f'<form method="get" action="{url}" class="inline-form"><button type="submit"' in page
    assert "<h1>Dry run of" in text(client.get(url))
