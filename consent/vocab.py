"""The controlled vocabularies of the consent registry and their W3C DPV IRIs.

Legal bases are GDPR Art. 6(1) points, each with its DPV core concept and its DPV-GDPR
extension IRI; special-category conditions are Art. 9(2) points; consent statuses are the DPV
consent statuses (https://w3id.org/dpv#ConsentStatus). Receipts and the API publish the IRIs so
that other systems can read the records without knowing this project's codes.
"""

from __future__ import annotations

from django.db import models

DPV = "https://w3id.org/dpv#"
DPV_GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"


class LegalBasis(models.TextChoices):
    CONSENT = "consent", "Consent — Art. 6(1)(a)"
    CONTRACT = "contract", "Contract — Art. 6(1)(b)"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation — Art. 6(1)(c)"
    VITAL_INTERESTS = "vital_interests", "Vital interests — Art. 6(1)(d)"
    PUBLIC_TASK = "public_task", "Public task — Art. 6(1)(e)"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests — Art. 6(1)(f)"


LEGAL_BASIS_DPV = {
    LegalBasis.CONSENT: f"{DPV}Consent",
    LegalBasis.CONTRACT: f"{DPV}Contract",
    LegalBasis.LEGAL_OBLIGATION: f"{DPV}LegalObligation",
    LegalBasis.VITAL_INTERESTS: f"{DPV}VitalInterest",
    LegalBasis.PUBLIC_TASK: f"{DPV}PublicInterest",
    LegalBasis.LEGITIMATE_INTERESTS: f"{DPV}LegitimateInterest",
}

LEGAL_BASIS_GDPR = {
    LegalBasis.CONSENT: f"{DPV_GDPR}A6-1-a",
    LegalBasis.CONTRACT: f"{DPV_GDPR}A6-1-b",
    LegalBasis.LEGAL_OBLIGATION: f"{DPV_GDPR}A6-1-c",
    LegalBasis.VITAL_INTERESTS: f"{DPV_GDPR}A6-1-d",
    LegalBasis.PUBLIC_TASK: f"{DPV_GDPR}A6-1-e",
    LegalBasis.LEGITIMATE_INTERESTS: f"{DPV_GDPR}A6-1-f",
}


class SpecialCategoryCondition(models.TextChoices):
    """GDPR Art. 9(2): the condition that lifts the ban on special-category data."""

    EXPLICIT_CONSENT = "explicit_consent", "(a) Explicit consent"
    EMPLOYMENT = "employment", "(b) Employment and social security law"
    VITAL_INTERESTS = "vital_interests", "(c) Vital interests, subject incapable of consent"
    NOT_FOR_PROFIT = "not_for_profit", "(d) Not-for-profit body, members only"
    MADE_PUBLIC = "made_public", "(e) Manifestly made public by the subject"
    LEGAL_CLAIMS = "legal_claims", "(f) Legal claims or courts"
    SUBSTANTIAL_PUBLIC_INTEREST = "substantial_public_interest", "(g) Substantial public interest"
    HEALTH_CARE = "health_care", "(h) Preventive or occupational medicine, health care"
    PUBLIC_HEALTH = "public_health", "(i) Public health"
    RESEARCH = "research", "(j) Archiving, scientific or historical research, statistics"


SPECIAL_CATEGORY_GDPR = {
    value: f"{DPV_GDPR}A9-2-{letter}"
    for value, letter in zip(SpecialCategoryCondition.values, "abcdefghij", strict=True)
}


class ConsentStatus(models.TextChoices):
    """DPV consent statuses. Only ``given`` and ``renewed`` are valid for processing."""

    GIVEN = "given", "Given"
    RENEWED = "renewed", "Renewed"
    REFUSED = "refused", "Refused"
    WITHDRAWN = "withdrawn", "Withdrawn (by the subject)"
    REVOKED = "revoked", "Revoked (by the controller)"
    EXPIRED = "expired", "Expired"
    INVALIDATED = "invalidated", "Invalidated"
    REQUESTED = "requested", "Requested"
    UNKNOWN = "unknown", "Unknown"


CONSENT_STATUS_DPV = {
    ConsentStatus.GIVEN: f"{DPV}ConsentGiven",
    ConsentStatus.RENEWED: f"{DPV}RenewedConsentGiven",
    ConsentStatus.REFUSED: f"{DPV}ConsentRefused",
    ConsentStatus.WITHDRAWN: f"{DPV}ConsentWithdrawn",
    ConsentStatus.REVOKED: f"{DPV}ConsentRevoked",
    ConsentStatus.EXPIRED: f"{DPV}ConsentExpired",
    ConsentStatus.INVALIDATED: f"{DPV}ConsentInvalidated",
    ConsentStatus.REQUESTED: f"{DPV}ConsentRequested",
    ConsentStatus.UNKNOWN: f"{DPV}ConsentUnknown",
}

# Statuses under which the subject's data may be processed (DPV ConsentStatusValidForProcessing).
VALID_FOR_PROCESSING = frozenset({ConsentStatus.GIVEN, ConsentStatus.RENEWED})
# Ending consent: each is a domain event in the ledger and a signal for erasure.
WITHDRAWALS = frozenset({ConsentStatus.WITHDRAWN, ConsentStatus.REVOKED})


class CollectionMethod(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    MOBILE_APP = "mobile_app", "Mobile app"
    PAPER_FORM = "paper_form", "Paper form"
    VERBAL = "verbal", "Verbal (recorded by staff)"
    EMAIL = "email", "Email"
    API = "api", "API (source system)"
    PORTAL = "portal", "Governance portal (on the subject's request)"
    IMPORT = "import", "Import of historical records"
    OTHER = "other", "Other"
