"""Issue 18, fourth bullet: the registers an auditor asks for — processors and sub-processors
with their contracts, transfers and their Art. 46 safeguards, DPIAs, legitimate-interest
assessments and personal-data breaches with the 72-hour clock — with portal pages, API and
export. Privacy officers keep them; auditors and administrators read; stewards read what
concerns their datasets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from openpyxl import load_workbook

from governance.audit.models import LedgerEntry

API = "/api/v1/registers"
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def post(client, user, path, body):
    client.force_authenticate(user)
    return client.post(f"{API}/{path}", body, format="json")


def get(client, user, path):
    client.force_authenticate(user)
    return client.get(f"{API}/{path}")


def events(name):
    return list(LedgerEntry.objects.filter(event=name).order_by("id"))


PROCESSOR = {
    "name": "Acme Cloud Ltd",
    "role": "processor",
    "country": "IE",
    "purposes": ["ticket-routing"],
    "contract_reference": "DPA-2025-14",
    "contract_signed_on": "2025-03-01",
    "contract_review_on": "2027-03-01",
    "security_measures": "ISO 27001 certified hosting.",
}


def test_a_privacy_officer_records_a_processor_and_its_sub_processor_with_contracts(
    api_client, petra, audrey, approved_for_routing
):
    # when
    created = post(api_client, petra, "recipients/create", PROCESSOR)
    sub = post(
        api_client,
        petra,
        "recipients/create",
        {
            **PROCESSOR,
            "name": "Acme Inc.",
            "role": "sub_processor",
            "parent": created.json()["id"],
            "country": "US",
            "contract_reference": "DPA-2025-14 annex 3",
        },
    )

    # then
    assert created.status_code == 201, created.json()
    assert sub.status_code == 201, sub.json()
    listed = get(api_client, audrey, "recipients").json()["results"]
    assert [(r["name"], r["role"], r["parent"], r["country"]) for r in listed] == [
        ("Acme Cloud Ltd", "processor", None, "IE"),
        ("Acme Inc.", "sub_processor", created.json()["id"], "US"),
    ]
    assert listed[0]["contract_reference"] == "DPA-2025-14"
    assert listed[0]["purposes"] == ["ticket-routing"]
    (event, _) = events("registers.recipient_created")
    assert event.actor == petra
    assert event.additional_data["name"] == "Acme Cloud Ltd"


def test_a_sub_processor_needs_the_processor_it_works_for(api_client, petra, router_purpose):
    response = post(api_client, petra, "recipients/create", {**PROCESSOR, "role": "sub_processor"})

    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "parent"
    assert events("registers.recipient_created") == []
    assert len(events("registers.recipient_refused")) == 1


def test_a_transfer_to_a_third_country_names_its_art46_safeguard(api_client, petra, router_purpose):
    recipient = post(api_client, petra, "recipients/create", {**PROCESSOR, "country": "US"})
    body = {
        "recipient": recipient.json()["id"],
        "country": "US",
        "purposes": ["ticket-routing"],
        "data_categories": "Support emails",
    }

    missing = post(api_client, petra, "transfers/create", body)
    inside = post(
        api_client, petra, "transfers/create", {**body, "country": "FR", "safeguard": "scc"}
    )
    derogation = post(api_client, petra, "transfers/create", {**body, "safeguard": "derogation"})
    sccs = post(
        api_client,
        petra,
        "transfers/create",
        {**body, "safeguard": "scc", "safeguard_reference": "SCC 2021/914 module 2"},
    )

    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["field"] == "safeguard"
    assert inside.status_code == 400
    assert inside.json()["error"]["message"] == (
        "FR is in the EEA: a transfer there is not a transfer to a third country."
    )
    assert derogation.status_code == 400
    assert derogation.json()["error"]["details"]["field"] == "derogation_reason"
    assert sccs.status_code == 201, sccs.json()
    assert sccs.json()["safeguard_label"] == "Standard contractual clauses, Art. 46(2)(c)"


def test_a_dpia_is_linked_to_purposes_and_datasets_with_a_status_and_a_review_date(
    api_client,
    petra,
    alice,
    carol,
    approved_for_routing,
):
    body = {
        "reference": "DPIA-2026-03",
        "title": "Ticket routing model",
        "purposes": ["ticket-routing"],
        "datasets": ["support-tickets"],
        "status": "completed",
        "residual_risk": "high",
        "completed_on": "2026-02-01",
        "review_on": "2027-02-01",
    }

    unconsulted = post(api_client, petra, "dpias/create", body)
    created = post(api_client, petra, "dpias/create", {**body, "prior_consultation": True})

    assert unconsulted.status_code == 400
    assert unconsulted.json()["error"]["details"]["field"] == "prior_consultation"
    assert created.status_code == 201, created.json()
    assert created.json()["datasets"] == ["support-tickets"]
    assert created.json()["review_on"] == "2027-02-01"
    # stewards see the DPIAs of their datasets, and only those
    assert [d["reference"] for d in get(api_client, alice, "dpias").json()["results"]] == [
        "DPIA-2026-03"
    ]
    assert get(api_client, carol, "dpias").json()["results"] == []
    assert get(api_client, carol, f"dpias/{created.json()['id']}").status_code == 404


def test_a_legitimate_interest_assessment_is_only_for_purposes_on_that_basis(
    api_client, petra, alice, router_purpose
):
    from tests.consent.factories import make_purpose

    make_purpose("churn-model", owner=alice)
    body = {
        "purpose": "ticket-routing",
        "reference": "LIA-2026-01",
        "interest": "Answer customers faster.",
        "necessity": "Routing needs the message text.",
        "balancing": "Customers expect their ticket to be read.",
        "safeguards": "Emails pseudonymised.",
        "outcome": "passed",
        "assessed_on": "2026-01-15",
        "review_on": "2027-01-15",
    }

    created = post(api_client, petra, "lias/create", body)
    wrong = post(api_client, petra, "lias/create", {**body, "purpose": "churn-model"})

    assert created.status_code == 201, created.json()
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == (
        "churn-model is based on Consent — Art. 6(1)(a), not on legitimate interests: it "
        "needs no legitimate-interest assessment."
    )


BREACH = {
    "reference": "BR-2026-01",
    "title": "Support export mailed to the wrong partner",
    "description": "A CSV of 1,200 tickets was sent to another vendor.",
    "became_aware_at": "2026-05-01T09:00:00Z",
    "confidentiality": True,
    "risk": "high_risk",
    "datasets": ["support-tickets"],
    "subjects_affected": 1200,
    "records_affected": 1200,
    "data_categories": "Email addresses, ticket texts",
    "likely_consequences": "Phishing of the customers concerned.",
    "measures_taken": "The vendor confirmed deletion.",
}


def test_a_breach_runs_a_72_hour_clock_to_the_authority(api_client, client, petra, tickets):
    # given a breach the privacy officer became aware of on Friday 09:00
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        created = post(api_client, petra, "breaches/create", BREACH)
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["authority_deadline"] == "2026-05-04T09:00:00Z"

    # when: on Monday 10:00 (73 hours later) it is overdue
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        detail = get(api_client, petra, f"breaches/{pk}").json()
        client.force_login(petra)
        page = client.get(f"/registers/breaches/{pk}/")
        # notifying now, late, needs the reason for the delay (Art. 33(1))
        late = post(
            api_client,
            petra,
            f"breaches/{pk}/update",
            {"authority_notified_at": "2026-05-04T10:00:00Z", "authority_reference": "CNIL-1"},
        )
        notified = post(
            api_client,
            petra,
            f"breaches/{pk}/update",
            {
                "authority_notified_at": "2026-05-04T10:00:00Z",
                "authority_reference": "CNIL-1",
                "authority_delay_reason": "The vendor confirmed the scope only on Monday.",
            },
        )
        # closing a high-risk breach needs the subjects told, or why not (Art. 34)
        unclosable = post(api_client, petra, f"breaches/{pk}/update", {"status": "closed"})
        closed = post(
            api_client,
            petra,
            f"breaches/{pk}/update",
            {"status": "closed", "subjects_notified_at": "2026-05-04T12:00:00Z"},
        )

    # then
    assert detail["authority_overdue"] is True
    assert detail["hours_to_deadline"] == -1
    assert page.status_code == 200
    assert b"overdue" in page.content
    assert late.status_code == 400
    assert late.json()["error"]["details"]["field"] == "authority_delay_reason"
    assert notified.status_code == 200, notified.json()
    assert notified.json()["authority_notified_late"] is True
    assert unclosable.status_code == 400
    assert unclosable.json()["error"]["details"]["field"] == "subjects_notified_at"
    assert closed.status_code == 200, closed.json()
    breach_events = LedgerEntry.objects.filter(event__startswith="registers.breach").order_by("id")
    assert [e.event for e in breach_events] == [
        "registers.breach_recorded",
        "registers.breach_refused",
        "registers.breach_updated",
        "registers.breach_refused",
        "registers.breach_updated",
    ]


def test_auditors_read_the_registers_and_change_nothing(
    api_client, client, audrey, ada, bob, router_purpose
):
    assert post(api_client, audrey, "recipients/create", PROCESSOR).status_code == 403
    assert post(api_client, ada, "recipients/create", PROCESSOR).status_code == 403
    assert get(api_client, audrey, "recipients").status_code == 200
    assert get(api_client, bob, "recipients").status_code == 403
    client.force_login(audrey)
    assert client.get("/registers/").status_code == 200
    assert client.post("/registers/recipients/", {"name": "x"}).status_code == 403
    refusals = LedgerEntry.objects.filter(event__startswith="registers.").order_by("id")
    assert [e.event for e in refusals] == [
        "registers.recipient_refused",
        "registers.recipient_refused",
        "registers.recipient_refused",
    ]


@pytest.mark.parametrize("kind", ["recipients", "transfers", "dpias", "lias", "breaches"])
def test_every_register_has_a_portal_page(client, petra, kind, router_purpose):
    client.force_login(petra)

    response = client.get(f"/registers/{kind}/")

    assert response.status_code == 200
    assert b"<form" in response.content


def test_the_registers_export_has_one_sheet_per_register(
    petra, approved_for_routing, settings, tmp_path, api_client
):
    settings.COMPLIANCE_EXPORT_DIR = tmp_path / "exports"
    post(api_client, petra, "recipients/create", PROCESSOR)
    post(api_client, petra, "breaches/create", BREACH)
    from governance.compliance import services

    export = services.export_request(actor=petra, kind="registers")
    export = services.export_run(export_id=export.pk)

    assert export.status == "succeeded", export.error
    workbook = load_workbook(export.file_path)
    assert workbook.sheetnames == [
        "Processors and recipients",
        "Transfers",
        "DPIAs",
        "Legitimate interests",
        "Breaches",
        "About",
    ]
    rows = list(workbook["Processors and recipients"].iter_rows(values_only=True))
    assert rows[1][:3] == ("Acme Cloud Ltd", "Processor", None)
    assert (
        json.dumps(list(workbook["Breaches"].iter_rows(values_only=True))[1][0]) == '"BR-2026-01"'
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("recipients/create", ["not", "an", "object"]),
        ("recipients/create", {**PROCESSOR, "purposes": "ticket-routing"}),
        ("recipients/create", {**PROCESSOR, "purposes": ["no-such-purpose"]}),
        ("recipients/create", {**PROCESSOR, "country": "Ireland"}),
        ("recipients/create", {**PROCESSOR, "parent": 999999, "role": "sub_processor"}),
        ("recipients/create", {**PROCESSOR, "role": "friend"}),
        ("recipients/create", {**PROCESSOR, "contract_signed_on": "yesterday"}),
        ("transfers/create", {"recipient": "x", "country": "US", "safeguard": "scc"}),
        ("transfers/create", {"recipient": 999999, "country": "US", "safeguard": "scc"}),
        ("dpias/create", {"reference": "D-1", "title": "t", "datasets": ["no-such-dataset"]}),
        ("dpias/create", {"reference": "D-1", "title": "t", "status": "completed"}),
        ("lias/create", {"purpose": "no-such-purpose", "reference": "L-1"}),
        ("breaches/create", {**BREACH, "became_aware_at": "2999-01-01T00:00:00Z"}),
        ("breaches/create", {**BREACH, "confidentiality": False}),
        ("breaches/create", {**BREACH, "subjects_affected": -1}),
        ("breaches/create", {**BREACH, "became_aware_at": "soon"}),
    ],
)
def test_bad_input_is_a_400_that_changes_nothing_but_records_the_refusal(
    api_client, petra, router_purpose, path, body
):
    before = LedgerEntry.objects.count()

    response = post(api_client, petra, path, body)

    assert response.status_code == 400, response.json()
    assert set(response.json()["error"]) == {"code", "message", "details"}
    new = list(LedgerEntry.objects.order_by("id")[before:].values_list("event", flat=True))
    assert len(new) == 1 and new[0].endswith("_refused"), new
    from governance.registers.kinds import KINDS

    assert all(not kind.model.objects.exists() for kind in KINDS.values())


@pytest.mark.parametrize("count", [1, 6])
def test_a_register_page_takes_the_same_number_of_queries_for_any_number_of_entries(
    client, petra, router_purpose, count, django_assert_num_queries
):
    from governance.registers import services

    for n in range(count):
        processor = services.recipient_create(
            actor=petra,
            name=f"Processor {n}",
            role="processor",
            country="IE",
            purposes=["ticket-routing"],
        )
        services.recipient_create(
            actor=petra, name=f"Sub {n}", role="sub_processor", parent=processor, country="US"
        )
    client.force_login(petra)
    client.get("/registers/recipients/")  # warm caches (session, content types)

    # session, user, roles, permissions (one query), the entries with their parents, their
    # purposes, and the form's choices (purposes, processors)
    with django_assert_num_queries(8):
        response = client.get("/registers/recipients/")

    assert response.content.count(b"data-entry=") == 2 * count
