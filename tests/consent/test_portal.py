"""Portal pages: registry, sign-off, notices, statistics, subject lookup and receipts."""

from __future__ import annotations

import json

import pytest
import time_machine

from consent.models import ConsentEvent, NoticeVersion, Purpose
from governance.audit.models import LedgerEntry
from tests.consent.factories import at, make_purpose, record

pytestmark = pytest.mark.django_db


def _form(**overrides) -> dict:
    return {
        "slug": "churn-model",
        "name": "Train the churn model",
        "description": "Predict churn.",
        "legal_basis": "consent",
        "consent_validity_months": "24",
        "withdrawal_method": "Privacy settings.",
        "data_categories": ["user.behavior.purchase_history", "user.demographic.age_range"],
        "data_subject_categories": "customer, newsletter_subscriber",
        "recipients": "Internal ML platform",
        "special_category_condition": "",
        "dpia_reference": "",
        "retention_days": "365",
        "controller": "Example Retail GmbH",
        "controller_contact": "privacy@example.org",
        "owner": "alice",
    } | overrides


@pytest.mark.parametrize(
    ("persona", "visible", "hidden"),
    [
        ("alice", ["consent", "consent-subjects"], []),
        ("petra", ["consent", "consent-subjects"], []),
        ("audrey", ["consent", "consent-subjects"], []),
        ("bob", ["consent"], ["consent-subjects"]),
        ("charlie", [], ["consent", "consent-subjects"]),
    ],
)
def test_navigation_shows_consent_pages_to_those_who_may_use_them(
    client, request, persona, visible, hidden
):
    client.force_login(request.getfixturevalue(persona))
    html = client.get("/").content.decode()
    for key in visible:
        assert f'data-nav="{key}"' in html
    for key in hidden:
        assert f'data-nav="{key}"' not in html


def test_a_steward_registers_a_purpose_in_the_portal(client, alice):
    client.force_login(alice)
    response = client.post("/consent/purposes/new/", _form())
    assert response.status_code == 302
    assert response["Location"] == "/consent/purposes/churn-model/v1/"
    purpose = Purpose.objects.get()
    assert purpose.data_categories == [
        "user.behavior.purchase_history",
        "user.demographic.age_range",
    ]
    assert purpose.data_subject_categories == ["customer", "newsletter_subscriber"]
    entry = LedgerEntry.objects.get(content_type__model="purpose", event="model.created")
    assert entry.actor == alice
    page = client.get(response["Location"]).content.decode()
    assert "Submit for activation" in page
    assert 'data-testid="activate"' not in page


def test_the_form_shows_every_problem_and_registers_nothing(client, alice):
    client.force_login(alice)
    response = client.post(
        "/consent/purposes/new/",
        _form(consent_validity_months="", data_categories="User.Email", special_categories="on"),
    )
    html = response.content.decode()
    assert response.status_code == 200
    for field in ("consent_validity_months", "data_categories", "special_category_condition"):
        assert f'data-testid="error-{field}"' in html
    assert Purpose.objects.count() == 0


def test_people_without_the_permission_cannot_open_the_create_page(client, bob):
    client.force_login(bob)
    assert client.get("/consent/purposes/new/").status_code == 403
    assert client.post("/consent/purposes/new/", _form()).status_code == 403
    assert Purpose.objects.count() == 0


def test_a_draft_is_edited_but_an_active_purpose_asks_for_a_new_version(client, alice):
    client.force_login(alice)
    client.post("/consent/purposes/new/", _form())
    response = client.post("/consent/purposes/churn-model/v1/edit/", _form(name="Better name"))
    assert response.status_code == 302
    assert Purpose.objects.get().name == "Better name"
    make_purpose(
        "fraud", legal_basis="legitimate_interests", notices=0, status="active", owner=alice
    )
    response = client.get("/consent/purposes/fraud/v1/edit/", follow=True)
    assert b"create a new version to change it" in response.content
    assert b"Create version 2 to change this purpose" in response.content


def test_submit_then_only_the_privacy_officer_activates_from_the_page(client, alice, petra):
    # given a draft with a notice, submitted by the steward
    client.force_login(alice)
    client.post("/consent/purposes/new/", _form())
    client.post(
        "/consent/purposes/churn-model/v1/notices/new/", {"text": "We use...", "language": "en"}
    )
    client.post("/consent/purposes/churn-model/v1/submit/")
    assert Purpose.objects.get().status == "submitted"
    # when the steward tries to activate
    assert client.post("/consent/purposes/churn-model/v1/activate/").status_code == 403
    assert Purpose.objects.get().status == "submitted"
    # when the privacy officer does
    client.force_login(petra)
    page = client.get("/consent/purposes/churn-model/v1/").content.decode()
    assert 'data-testid="activate"' in page
    # without a note and a complete checklist nothing changes, and both problems show at once
    refused = client.post(
        "/consent/purposes/churn-model/v1/activate/", {"checklist": ["legal_basis"]}
    )
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'data-testid="note-error"' in html and 'data-testid="checklist-error"' in html
    assert Purpose.objects.get().status == "submitted"
    assert not LedgerEntry.objects.filter(event="purpose.activated").exists()
    # with both
    items = ["legal_basis", "minimal", "retention", "notice"]
    response = client.post(
        "/consent/purposes/churn-model/v1/activate/",
        {"checklist": items, "note": "Notice v1 read; DPIA not needed."},
        follow=True,
    )
    # then
    assert b"churn-model v1 is active." in response.content
    purpose = Purpose.objects.get()
    assert (purpose.status, purpose.activation_note) == (
        "active",
        "Notice v1 read; DPIA not needed.",
    )
    entry = LedgerEntry.objects.get(event="purpose.activated")
    assert entry.actor == petra
    assert entry.additional_data["checklist"] == sorted(items)
    assert entry.additional_data["note"] == "Notice v1 read; DPIA not needed."


def test_retire_and_new_version_from_the_page(client, alice):
    make_purpose("churn-model", status="active", owner=alice)
    client.force_login(alice)
    response = client.post("/consent/purposes/churn-model/v1/new-version/")
    assert response["Location"] == "/consent/purposes/churn-model/v2/"
    client.post("/consent/purposes/churn-model/v1/retire/", {"reason": ""})
    assert Purpose.objects.get(version=1).status == "active"
    client.post("/consent/purposes/churn-model/v1/retire/", {"reason": "Model replaced"})
    assert Purpose.objects.get(version=1).status == "retired"


def test_a_notice_given_only_by_url_needs_its_hash(client, alice):
    make_purpose("churn-model", status="draft", notices=0, owner=alice)
    client.force_login(alice)
    response = client.post(
        "/consent/purposes/churn-model/v1/notices/new/",
        {"url": "https://example.org/privacy", "language": "en"},
    )
    assert b"needs the SHA-256" in response.content
    assert NoticeVersion.objects.count() == 0


def test_the_purpose_list_uses_a_fixed_number_of_queries(
    client, petra, django_assert_max_num_queries
):
    for i in range(6):
        make_purpose(f"purpose-{i}", status="active")
    client.force_login(petra)
    client.get("/consent/")
    with django_assert_max_num_queries(8):
        response = client.get("/consent/")
    assert response.content.decode().count('href="/consent/purposes/purpose-') == 6


def test_the_statistics_page_draws_given_withdrawn_and_expired_per_month(client, audrey):
    # given events in March, April and May 2026 and a consent that lapsed in April
    purpose = make_purpose("churn-model", consent_validity_months=1)
    with time_machine.travel(at(2026, 5, 20), tick=False):
        record("c-1", "given", occurred_at=at(2026, 3, 10))  # lapses 10 April
        record("c-2", "given", occurred_at=at(2026, 4, 2))
        record("c-2", "withdrawn", occurred_at=at(2026, 4, 20))
        record("c-3", "given", occurred_at=at(2026, 5, 1))
        client.force_login(audrey)
        response = client.get(f"/consent/purposes/{purpose.slug}/v1/stats/?months=3")
    # then
    assert response.status_code == 200
    chart = response.context["chart"]
    assert [s["key"] for s in chart["series"]] == ["given", "withdrawn", "expired"]
    rows = [(r["month"].month, r["values"]) for r in response.context["rows"]]
    assert rows == [(3, [1, 0, 0]), (4, [1, 1, 1]), (5, [1, 0, 0])]
    assert response.context["summary"]["valid"] == 1
    assert response.context["summary"]["withdrawn"] == 1
    assert response.context["summary"]["expired"] == 1
    html = response.content.decode()
    assert "<svg" in html
    assert html.count("<polyline") == 3


def test_subject_lookup_finds_the_subject_or_says_why_not(client, alice, bob):
    make_purpose("churn-model", owner=alice)
    record("c-1", "given")
    client.force_login(alice)
    response = client.get("/consent/subjects/", {"namespace": "shop", "subject_id": "c-1"})
    assert response["Location"] == "/consent/subjects/shop/c-1/"
    response = client.get(
        "/consent/subjects/", {"namespace": "shop", "subject_id": "ana@example.org"}
    )
    assert b"looks like an email address" in response.content
    missing = client.get("/consent/subjects/shop/c-404/")
    assert missing.status_code == 404
    assert b"The registry has no subject" in missing.content
    client.force_login(bob)
    assert client.get("/consent/subjects/shop/c-1/").status_code == 403


def test_a_steward_sees_state_and_history_and_downloads_a_receipt(client, alice):
    make_purpose("churn-model", owner=alice)
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    client.force_login(alice)
    page = client.get("/consent/subjects/shop/c-1/").content.decode()
    assert 'data-testid="state-churn-model"' in page
    assert 'data-testid="receipt-churn-model"' in page
    response = client.get("/consent/subjects/shop/c-1/receipt/churn-model/v1/")
    assert response["Content-Disposition"] == (
        'attachment; filename="consent-receipt-shop-c-1-churn-model-v1.json"'
    )
    receipt = json.loads(response.content)
    assert receipt["subject"] == {"namespace": "shop", "id": "c-1"}
    assert receipt["state"]["valid"] is True


def test_withdrawal_asks_for_channel_and_reference_and_a_double_click_records_it_once(
    client, alice
):
    make_purpose("churn-model", owner=alice)
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    client.force_login(alice)
    # the confirmation page says what the withdrawal sets off
    page = client.get("/consent/subjects/shop/c-1/withdraw/churn-model/")
    assert page.status_code == 200
    assert 'data-testid="impact"' in page.content.decode()
    # without channel, reference and tick: every error at once, nothing recorded
    refused = client.post("/consent/subjects/shop/c-1/withdraw/churn-model/", {})
    assert refused.status_code == 400
    html = refused.content.decode()
    for message in ("This field is required.", "Give the reference", "Tick the box"):
        assert message in html
    assert ConsentEvent.objects.filter(status="withdrawn").count() == 0
    form = {
        "idempotency_key": "portal-abc-1",
        "channel": "email",
        "reference": "TICKET-4711",
        "understood": "on",
    }
    response = client.post("/consent/subjects/shop/c-1/withdraw/churn-model/", form, follow=True)
    client.post("/consent/subjects/shop/c-1/withdraw/churn-model/", form)
    assert b"Consent for churn-model withdrawn." in response.content
    assert b"ref. TICKET-4711" in response.content
    withdrawals = ConsentEvent.objects.filter(status="withdrawn")
    assert withdrawals.count() == 1
    withdrawal = withdrawals.get()
    assert (withdrawal.recorded_by, withdrawal.collection_method) == (alice, "email")
    assert withdrawal.evidence == {"reference": "TICKET-4711"}


def test_auditors_read_but_cannot_withdraw(client, audrey):
    make_purpose("churn-model")
    record("c-1", "given")
    client.force_login(audrey)
    page = client.get("/consent/subjects/shop/c-1/").content.decode()
    assert "withdraw-churn-model" not in page
    assert client.post("/consent/subjects/shop/c-1/withdraw/churn-model/").status_code == 403
    assert ConsentEvent.objects.count() == 1


def test_the_dashboard_has_a_consent_panel(client, petra):
    make_purpose("churn-model", status="active")
    make_purpose("other", status="submitted")
    record("c-1", "given")
    client.force_login(petra)
    html = client.get("/").content.decode()
    assert "Purposes and consent" in html
    panel = next(
        p for p in client.get("/").context["panels"] if p["role"] == "Purposes and consent"
    )
    assert panel["stats"] == [
        ("Active purposes", 1),
        ("Purposes awaiting activation", 1),
        ("Valid consents (active purposes)", 1),
    ]
    # made by the system (actor None), so petra may activate it: not hers to sign off
    activate = [i for i in panel["todo"] if i.get("testid") == "activate-purpose"]
    assert [i["url"] for i in activate] == ["/consent/purposes/other/v1/#sign-off"]


def _hidden(page: str) -> dict[str, str]:
    import re

    found = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag and "csrfmiddlewaretoken" not in tag:
            value = re.search(r'value="([^"]*)"', tag)
            found[re.search(r'name="([^"]*)"', tag).group(1)] = value.group(1) if value else ""
    return found


def test_a_stale_activation_form_is_refused_after_the_purpose_changed(client, alice, petra):
    from consent import services

    # given a submitted purpose that petra opens for sign-off
    client.force_login(alice)
    client.post("/consent/purposes/new/", _form())
    client.post(
        "/consent/purposes/churn-model/v1/notices/new/", {"text": "We use...", "language": "en"}
    )
    client.post("/consent/purposes/churn-model/v1/submit/")
    client.force_login(petra)
    seen = _hidden(client.get("/consent/purposes/churn-model/v1/").content.decode())
    assert seen["fingerprint"]
    # and it is returned, its categories and retention changed, and submitted again
    purpose = Purpose.objects.get()
    services.purpose_return(purpose=purpose, actor=petra, reason="Narrow it.")
    services.purpose_update(
        purpose=Purpose.objects.get(),
        actor=alice,
        data_categories=["user.behavior.purchase_history", "user.contact.email"],
        retention_days=3650,
    )
    services.purpose_submit(purpose=Purpose.objects.get(), actor=alice)
    # when petra's old form is posted
    items = ["legal_basis", "minimal", "retention", "notice"]
    response = client.post(
        "/consent/purposes/churn-model/v1/activate/",
        {**seen, "checklist": items, "note": "Read it."},
    )
    # then nothing is activated and the page shows the purpose as it is now
    assert response.status_code == 409
    page = response.content.decode()
    assert "What you reviewed changed: below is purpose version 1 as it is now." in page
    assert _hidden(page)["fingerprint"] != seen["fingerprint"]
    assert Purpose.objects.get().status == "submitted"
    assert not LedgerEntry.objects.filter(event="purpose.activated").exists()


def test_a_withdrawal_from_a_second_tab_or_of_withdrawn_consent_is_refused(client, alice):
    # given consent that was given, and two tabs on the withdrawal page
    make_purpose("churn-model", owner=alice)
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    client.force_login(alice)
    url = "/consent/subjects/shop/c-1/withdraw/churn-model/"
    form = {"channel": "email", "reference": "TICKET-4711", "understood": "on"}
    # when the first tab withdraws, then the second
    first = client.post(url, {**form, "idempotency_key": "portal-tab-1"})
    second = client.post(url, {**form, "idempotency_key": "portal-tab-2"})
    # then one withdrawal is recorded and the second tab is told there is nothing to withdraw
    assert first.status_code == 302
    assert second.status_code == 409
    assert "There is no given consent to withdraw: it is withdrawn." in second.content.decode()
    assert ConsentEvent.objects.filter(status="withdrawn").count() == 1
    # and the page for withdrawn consent says so instead of offering the form
    page = client.get(url).content.decode()
    assert "There is no given consent to withdraw: it is withdrawn." in page
    assert 'data-testid="withdraw-form"' not in page


def test_the_purpose_page_has_no_duplicate_ids(client, alice, petra):
    import re
    from collections import Counter

    make_purpose("churn-model", status="submitted", owner=alice)
    client.force_login(petra)
    page = client.get("/consent/purposes/churn-model/v1/").content.decode()
    ids = Counter(re.findall(r'\sid="([^"]+)"', page))
    assert "id_return_reason" in ids and "id_retire_reason" in ids
    assert [i for i, n in ids.items() if n > 1] == []
