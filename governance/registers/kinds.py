"""The registers, described once for the portal, the API and the export: which model, which
fields a privacy officer edits, which services write it, and the columns an auditor reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from governance.registers import services
from governance.registers.models import (
    Breach,
    Dpia,
    LegitimateInterestAssessment,
    ProcessingRecord,
    Recipient,
    Transfer,
)


def _date(value) -> str | None:
    return value.isoformat() if value else None


def _time(value) -> str | None:
    if not value:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _joined(values) -> str:
    return ", ".join(values)


@dataclass(frozen=True)
class Kind:
    slug: str  # in URLs: /registers/<slug>/
    label: str  # a page's title, the export's sheet name
    entity: str  # in event names: registers.<entity>_created
    model: type
    fields: tuple[str, ...]  # what a privacy officer edits (services' keyword arguments)
    create: Callable[..., Any]
    update: Callable[..., Any]
    target: str  # the update service's keyword for the entry
    columns: tuple[tuple[str, Callable[[Any], Any]], ...]  # (header, value) for lists, export
    related: tuple[str, ...] = ()  # select_related
    prefetch: tuple[str, ...] = ()
    help: str = ""

    def rows(self, entries) -> list[list[Any]]:
        return [[value(entry) for _, value in self.columns] for entry in entries]


RECIPIENTS = Kind(
    slug="recipients",
    label="Processors and recipients",
    entity="recipient",
    model=Recipient,
    fields=services.RECIPIENT_FIELDS,
    create=services.recipient_create,
    update=services.recipient_update,
    target="recipient",
    related=("parent",),
    prefetch=("purposes",),
    help="Processors and sub-processors with their Art. 28 contracts, other controllers, "
    "authorities: who receives personal data, where, for which purposes.",
    columns=(
        ("Name", lambda r: r.name),
        ("Role", lambda r: r.get_role_display()),
        ("Works for", lambda r: r.parent.name if r.parent_id else None),
        ("Country", lambda r: r.country),
        ("Contract", lambda r: r.contract_reference or "Not recorded"),
        ("Signed on", lambda r: _date(r.contract_signed_on)),
        ("Review on", lambda r: _date(r.contract_review_on)),
        ("Purposes", lambda r: _joined(r.purpose_slugs())),
        ("Security measures", lambda r: r.security_measures or "Not recorded"),
        ("Contact", lambda r: r.contact),
        ("Active", lambda r: "yes" if r.active else "no"),
    ),
)

TRANSFERS = Kind(
    slug="transfers",
    label="Transfers",
    entity="transfer",
    model=Transfer,
    fields=services.TRANSFER_FIELDS,
    create=services.transfer_create,
    update=services.transfer_update,
    target="transfer",
    related=("recipient",),
    prefetch=("purposes",),
    help="Transfers to third countries and the safeguard each relies on (Art. 45, 46, 49).",
    columns=(
        ("Country", lambda t: t.country),
        ("Recipient", lambda t: t.recipient.name),
        ("Safeguard", lambda t: t.get_safeguard_display()),
        ("Safeguard reference", lambda t: t.safeguard_reference or "Not recorded"),
        ("Derogation reason", lambda t: t.derogation_reason),
        ("Transfer impact assessment", lambda t: _date(t.tia_completed_on) or "Not recorded"),
        ("Purposes", lambda t: _joined(t.purpose_slugs())),
        ("Data categories", lambda t: t.data_categories),
        ("Started on", lambda t: _date(t.started_on)),
        ("Ended on", lambda t: _date(t.ended_on)),
    ),
)

DPIAS = Kind(
    slug="dpias",
    label="DPIAs",
    entity="dpia",
    model=Dpia,
    fields=services.DPIA_FIELDS,
    create=services.dpia_create,
    update=services.dpia_update,
    target="dpia",
    prefetch=("purposes", "datasets"),
    help="Data protection impact assessments (Art. 35) of purposes and datasets: status, "
    "residual risk, prior consultation, review date.",
    columns=(
        ("Reference", lambda d: d.reference),
        ("Title", lambda d: d.title),
        ("Status", lambda d: d.get_status_display()),
        ("Residual risk", lambda d: d.get_residual_risk_display()),
        ("Prior consultation (Art. 36)", lambda d: "yes" if d.prior_consultation else "no"),
        ("Purposes", lambda d: _joined(d.purpose_slugs())),
        ("Datasets", lambda d: _joined(d.dataset_slugs())),
        ("Completed on", lambda d: _date(d.completed_on)),
        ("Review on", lambda d: _date(d.review_on)),
        ("Review overdue", lambda d: "yes" if d.review_overdue else "no"),
        ("Document", lambda d: d.document_url),
    ),
)

LIAS = Kind(
    slug="lias",
    label="Legitimate interests",
    entity="lia",
    model=LegitimateInterestAssessment,
    fields=services.LIA_FIELDS,
    create=services.lia_create,
    update=services.lia_update,
    target="lia",
    related=("purpose",),
    help="Legitimate-interest assessments of purposes based on Art. 6(1)(f): the interest, "
    "necessity, balancing test, safeguards and outcome.",
    columns=(
        ("Reference", lambda a: a.reference),
        ("Purpose", lambda a: a.purpose.slug),
        ("Interest", lambda a: a.interest),
        ("Necessity", lambda a: a.necessity),
        ("Balancing", lambda a: a.balancing),
        ("Safeguards", lambda a: a.safeguards),
        ("Outcome", lambda a: a.get_outcome_display()),
        ("Assessed on", lambda a: _date(a.assessed_on)),
        ("Review on", lambda a: _date(a.review_on)),
    ),
)

BREACHES = Kind(
    slug="breaches",
    label="Breaches",
    entity="breach",
    model=Breach,
    fields=services.BREACH_FIELDS,
    create=services.breach_create,
    update=services.breach_update,
    target="breach",
    prefetch=("datasets",),
    help="Personal-data breaches (Art. 33(5)): facts, effects, remedial action; the 72-hour "
    "clock to the supervisory authority; whether the subjects were told, or why not.",
    columns=(
        ("Reference", lambda b: b.reference),
        ("Title", lambda b: b.title),
        ("Became aware at", lambda b: _time(b.became_aware_at)),
        ("Nature", lambda b: _joined(b.nature)),
        ("Risk", lambda b: b.get_risk_display()),
        ("Datasets", lambda b: _joined(b.dataset_slugs())),
        ("Subjects affected", lambda b: b.subjects_affected),
        ("Records affected", lambda b: b.records_affected),
        ("Authority deadline", lambda b: _time(b.authority_deadline)),
        ("Authority notified at", lambda b: _time(b.authority_notified_at)),
        ("Notified late", lambda b: "yes" if b.authority_notified_late else "no"),
        ("Reasons for delay", lambda b: b.authority_delay_reason),
        ("Why not notified", lambda b: b.not_notified_reason),
        ("Subjects notified at", lambda b: _time(b.subjects_notified_at)),
        ("Why subjects not notified", lambda b: b.subjects_not_notified_reason),
        ("Measures taken", lambda b: b.measures_taken),
        ("Status", lambda b: b.get_status_display()),
    ),
)

KINDS: dict[str, Kind] = {
    kind.slug: kind for kind in (RECIPIENTS, TRANSFERS, DPIAS, LIAS, BREACHES)
}

PROCESSING_COLUMNS = (
    ("Purpose", lambda r: r.purpose_slug),
    ("Security measures", lambda r: r.security_measures or "Not recorded"),
    ("No third-country transfers (recorded)", lambda r: "yes" if r.no_transfers else "no"),
    ("No recipients (recorded)", lambda r: "yes" if r.no_recipients else "no"),
    ("Updated by", lambda r: r.updated_by.username),
    ("Updated at", lambda r: _time(r.updated_at)),
)

__all__ = ["KINDS", "PROCESSING_COLUMNS", "Kind", "ProcessingRecord"]
