"""Issue 18, third bullet: the Records of Processing Activities state what is recorded and say
"Not recorded" (with a warning) for what is not, never a default that reads as a fact."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from importlib.metadata import version
from pathlib import Path

from openpyxl import load_workbook

from datasets import services as catalog
from governance.access import services as access
from tests.compliance.conftest import run
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, make_dataset
from tests.retention.conftest import set_policy

REGISTRY_VERSION = version("data-governance-registry")


def csv_rows(export) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(Path(export.file_path).read_text("utf-8"))))


def by_purpose(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["Purpose id"]: row for row in rows}


def test_what_is_not_recorded_reads_not_recorded_and_the_export_warns(
    petra, alice, approved_for_routing, settings
):
    # given an instance where nobody recorded a DPO, transfers or security measures
    settings.GOVERNANCE_DPO_CONTACT = ""
    settings.GOVERNANCE_SECURITY_MEASURES = ""
    make_purpose("churn-model", owner=alice, recipients=[])

    # when
    export = run(petra, "ropa", fmt="csv")

    # then
    text = Path(export.file_path).read_text("utf-8")
    assert "TLS" not in text
    assert "periodic review" not in text
    assert "Not designated" not in text
    rows = by_purpose(csv_rows(export))
    routing, churn_row = rows["ticket-routing"], rows["churn-model"]
    assert routing["DPO contact"] == "Not recorded"
    assert routing["Transfers to third countries"] == "Not recorded"
    assert routing["Technical and organisational security measures"] == "Not recorded"
    assert routing["Legitimate-interest assessment"] == "Not recorded"
    assert routing["DPIA"] == "None recorded"
    assert churn_row["Categories of recipients"] == "Not recorded"
    assert (
        churn_row["Legitimate-interest assessment"]
        == "Not applicable (legal basis: Consent — Art. 6(1)(a))"
    )
    assert routing["Not recorded"] == (
        "DPO contact; Transfers to third countries; Technical and organisational security "
        "measures; Legitimate-interest assessment"
    )
    assert "ticket-routing: transfers to third countries not recorded" in export.summary["warnings"]
    assert "churn-model: categories of recipients not recorded" in export.summary["warnings"]
    assert (
        "ticket-routing: retention not enforced by the registry on support-tickets"
        in export.summary["warnings"]
    )


def test_the_xlsx_warns_on_its_about_sheet(petra, approved_for_routing, settings):
    settings.GOVERNANCE_DPO_CONTACT = ""

    export = run(petra, "ropa")

    about = {
        row[0]: row[1]
        for row in load_workbook(export.file_path)["About"].iter_rows(values_only=True)
    }
    assert about["Registry version"] == REGISTRY_VERSION
    assert about["Warnings"] == len(export.summary["warnings"])
    warnings = load_workbook(export.file_path)["Warnings"]
    assert ("ticket-routing: DPO contact not recorded",) in list(
        warnings.iter_rows(values_only=True)
    )


def test_recipients_transfers_and_measures_are_recorded_per_purpose_and_recipient(
    petra, approved_for_routing
):
    # given
    from governance.registers import services as registers

    acme = registers.recipient_create(
        actor=petra,
        name="Acme Cloud Ltd",
        role="processor",
        country="IE",
        purposes=["ticket-routing"],
        contract_reference="DPA-2025-14",
        contract_signed_on=date(2025, 3, 1),
        security_measures="ISO 27001 certified hosting.",
    )
    acme_us = registers.recipient_create(
        actor=petra,
        name="Acme Inc.",
        role="sub_processor",
        parent=acme,
        country="US",
        purposes=["ticket-routing"],
        contract_reference="DPA-2025-14 annex 3",
        contract_signed_on=date(2025, 3, 1),
    )
    registers.transfer_create(
        actor=petra,
        recipient=acme_us,
        country="US",
        safeguard="scc",
        safeguard_reference="SCC 2021/914 module 3",
        purposes=["ticket-routing"],
    )
    registers.processing_record_set(
        actor=petra,
        purpose="ticket-routing",
        security_measures="Emails pseudonymised; access only through time-limited grants.",
    )

    # when
    export = run(petra, "ropa", fmt="csv")

    # then
    routing = by_purpose(csv_rows(export))["ticket-routing"]
    assert routing["Categories of recipients"] == (
        "Internal ML platform\n"
        "Acme Cloud Ltd (processor, IE, contract DPA-2025-14 signed 2025-03-01)\n"
        "Acme Inc. (sub-processor of Acme Cloud Ltd, US, contract DPA-2025-14 annex 3 signed "
        "2025-03-01)"
    )
    assert routing["Transfers to third countries"] == (
        "US: Acme Inc. (sub-processor) under standard contractual clauses, Art. 46(2)(c): "
        "SCC 2021/914 module 3"
    )
    assert routing["Technical and organisational security measures"] == (
        "Emails pseudonymised; access only through time-limited grants.\n"
        "Acme Cloud Ltd: ISO 27001 certified hosting."
    )


def test_a_confirmed_absence_of_transfers_is_stated_as_recorded(petra, approved_for_routing):
    from governance.registers import services as registers

    registers.processing_record_set(
        actor=petra, purpose="ticket-routing", no_transfers=True, no_recipients=False
    )

    export = run(petra, "ropa", fmt="csv")

    routing = by_purpose(csv_rows(export))["ticket-routing"]
    assert routing["Transfers to third countries"] == "None (recorded by petra)"


def test_erasure_limits_say_what_really_happens(petra, alice, events_dataset):
    # given shop-events, approved for churn-model (365 days), anonymised after 90 days
    set_policy(dataset=events_dataset, actor=alice, max_age_days=90, action="anonymize")

    export = run(petra, "ropa", fmt="csv")

    limits = by_purpose(csv_rows(export))["churn-model"]["Time limits for erasure"]
    assert limits == (
        "Purpose retention period: 365 days.\n"
        "shop-events: rows anonymised (direct identifiers emptied, rows kept) 90 days after "
        "their event time."
    )


def test_a_dataset_without_a_retention_policy_is_not_said_to_be_erased(petra, approved_for_routing):
    export = run(petra, "ropa", fmt="csv")

    limits = by_purpose(csv_rows(export))["ticket-routing"]["Time limits for erasure"]
    assert limits == (
        "Purpose retention period: 365 days.\n"
        "support-tickets: not enforced by the registry (no retention policy)."
    )


def test_categories_are_shown_with_their_names_and_non_personal_ones_left_out(petra, alice):
    # given a purpose and a dataset that name a non-personal category beside personal ones
    make_purpose(
        "log-analysis",
        owner=alice,
        legal_basis="legitimate_interests",
        data_categories=["user.contact", "system.operations"],
    )
    logs = make_dataset(
        alice,
        slug="router-logs",
        fields={
            "host": ("system.operations", "non_personal", "", "keep"),
            "email": ("user.contact.email", "direct_identifier", "", "pseudonymize"),
        },
    )
    catalog.dataset_submit(actor=alice, dataset=logs, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=logs)
    access.purpose_approval_create(actor=petra, dataset=logs, purpose_slug="log-analysis")

    # when
    export = run(petra, "ropa", fmt="csv")

    # then
    row = by_purpose(csv_rows(export))["log-analysis"]
    assert row["Categories of personal data"] == (
        "Contact data (user.contact); Email address (user.contact.email)"
    )


def test_the_csv_carries_its_generation_date_and_version(petra, approved_for_routing):
    export = run(petra, "ropa", fmt="csv")

    (row,) = csv_rows(export)
    generated = datetime.fromisoformat(row["Generated at"])
    assert export.created_at <= generated <= export.finished_at
    assert row["Registry version"] == REGISTRY_VERSION
