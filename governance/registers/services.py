"""Writes of the registers: one service per entity and verb, keyword-only, one transaction,
its ledger event inside it; a refused write changes nothing and is recorded
(``registers.<entity>_refused``). Only privacy officers keep the registers
(governance/registers/policy.py).

Each write validates the entry as a whole (the model's own checks, then the rules of the
GDPR article the register serves) and names the field a person must fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from consent.models import Purpose
from consent.policy import purpose_current
from consent.vocab import LegalBasis
from datasets.models import Dataset
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, NotFound
from governance.policy import require
from governance.registers import policy
from governance.registers.models import (
    EEA,
    Breach,
    Dpia,
    LegitimateInterestAssessment,
    ProcessingRecord,
    Recipient,
    Transfer,
)

MSG_UNKNOWN_PURPOSE = "No purpose {slug!r} in the registry."
MSG_UNKNOWN_DATASET = "No dataset {slug!r} in the catalog."
MSG_UNKNOWN_RECIPIENT = "No recipient {pk!r} in the register."
MSG_SUB_PROCESSOR_PARENT = (
    "A sub-processor works for a processor: name the processor (or sub-processor) it works for."
)
MSG_PARENT_ONLY_FOR_SUB = "Only a sub-processor works for another processor; leave it empty."
MSG_PARENT_NOT_PROCESSOR = "{name} is not a processor: a sub-processor works for a processor."
MSG_PARENT_SELF = "A recipient cannot work for itself."
MSG_COUNTRY = "Give the country as its two-letter ISO 3166-1 code (for example IE or US)."
MSG_IN_EEA = "{country} is in the EEA: a transfer there is not a transfer to a third country."
MSG_SAFEGUARD = (
    "Name the safeguard the transfer relies on: an adequacy decision (Art. 45), an Art. 46 "
    "safeguard such as standard contractual clauses, or an Art. 49 derogation."
)
MSG_DEROGATION = "A derogation needs its reason: which Art. 49(1) case applies, and why."
MSG_ENDED_BEFORE = "The transfer cannot end before it started."
MSG_DPIA_COMPLETED_DATES = "A completed DPIA needs the date it was completed and its review date."
MSG_DPIA_CONSULTATION = (
    "A DPIA whose residual risk stays high needs prior consultation of the supervisory "
    "authority (Art. 36(1)) before the processing starts: record that it took place."
)
MSG_DPIA_REVIEW_BEFORE = "The review date must come after the completion date."
MSG_LIA_BASIS = (
    "{slug} is based on {basis}, not on legitimate interests: it needs no "
    "legitimate-interest assessment."
)
MSG_LIA_FUTURE = "The assessment date lies in the future."
MSG_BREACH_NATURE = (
    "Say what the breach affected: confidentiality, integrity or availability (one at least)."
)
MSG_BREACH_FUTURE = "The moment you became aware of the breach lies in the future."
MSG_BREACH_NOTIFIED_BEFORE = "The authority cannot have been notified before you became aware."
MSG_BREACH_LATE = (
    "The authority was notified after the 72 hours of Art. 33(1) (deadline {deadline}): give "
    "the reasons for the delay."
)
MSG_BREACH_CLOSE_AUTHORITY = (
    "A breach that is likely to result in a risk is notified to the supervisory authority "
    "(Art. 33(1)) before it is closed: record when."
)
MSG_BREACH_CLOSE_NO_RISK = (
    "A breach closed without notifying the authority needs the reason it is unlikely to "
    "result in a risk (Art. 33(1), 33(5))."
)
MSG_BREACH_CLOSE_SUBJECTS = (
    "A breach likely to result in a high risk is communicated to the subjects (Art. 34(1)) "
    "before it is closed: record when, or why not (Art. 34(3))."
)
MSG_BREACH_REOPEN = "A closed breach is not reopened: record a new one that refers to it."
MSG_PROCESSING_PURPOSE = "No purpose {slug!r} in the registry."

UNSET = object()


def _problem(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, {"field": field})


def _purposes(slugs) -> list[Purpose]:
    found = []
    for slug in slugs or []:
        purpose = purpose_current(str(slug))
        if purpose is None:
            raise _problem("purposes", MSG_UNKNOWN_PURPOSE.format(slug=slug))
        found.append(purpose)
    return found


def _datasets(slugs) -> list[Dataset]:
    found = []
    for slug in slugs or []:
        dataset = Dataset.objects.filter(slug=str(slug)).first()
        if dataset is None:
            raise _problem("datasets", MSG_UNKNOWN_DATASET.format(slug=slug))
        found.append(dataset)
    return found


def _full_clean(entry) -> None:
    """The model's own field checks, as the first problem (and every problem by field)."""
    try:
        entry.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        problems = {
            name: " ".join(str(m) for m in messages)
            for name, messages in error.message_dict.items()
        }
        name = next(iter(problems))
        field = name if name != "__all__" else None
        raise ApplicationError(
            problems[name], {"field": field, "fields": problems} if field else {}
        ) from None


def _unique(entry) -> None:
    try:
        entry.validate_unique()
    except ValidationError as error:
        name, messages = next(iter(error.message_dict.items()))
        raise ApplicationError(" ".join(messages), {"field": name}) from None


def _save(
    *,
    entity: str,
    actor: User,
    entry,
    fields: dict[str, Any],
    check: Callable[[Any, dict], None],
    created_event: str,
    summary: Callable[[Any], dict],
) -> Any:
    """Set ``fields`` on ``entry`` (purposes and datasets by slug), validate, save, record."""
    require(policy.may_keep(actor))
    created = entry.pk is None
    links: dict[str, list] = {}
    for name, value in fields.items():
        if value is UNSET:
            continue
        if name == "purposes":
            links["purposes"] = _purposes(value)
        elif name == "datasets":
            links["datasets"] = _datasets(value)
        else:
            setattr(entry, name, value.strip() if isinstance(value, str) else value)
    now = timezone.now()
    if created:
        entry.created_by, entry.created_at = actor, now
    entry.updated_by, entry.updated_at = actor, now
    _full_clean(entry)
    check(entry, links)
    _unique(entry)
    entry.save()
    for name, values in links.items():
        getattr(entry, name).set(values)
    changed = sorted(name for name, value in fields.items() if value is not UNSET)
    audit.record(
        action=created_event if created else f"registers.{entity}_updated",
        target=entry,
        actor=actor,
        data={**summary(entry), **({} if created else {"changed": changed})},
    )
    return entry


def _country(entry, field: str = "country") -> None:
    value = (getattr(entry, field) or "").upper()
    setattr(entry, field, value)


# --- recipients -------------------------------------------------------------------------------


def _recipient_check(recipient: Recipient, links: dict) -> None:
    parent = recipient.parent
    if recipient.role == Recipient.Role.SUB_PROCESSOR:
        if parent is None:
            raise _problem("parent", MSG_SUB_PROCESSOR_PARENT)
        if parent.pk == recipient.pk:
            raise _problem("parent", MSG_PARENT_SELF)
        if parent.role not in (Recipient.Role.PROCESSOR, Recipient.Role.SUB_PROCESSOR):
            raise _problem("parent", MSG_PARENT_NOT_PROCESSOR.format(name=parent.name))
    elif parent is not None:
        raise _problem("parent", MSG_PARENT_ONLY_FOR_SUB)


def _recipient_summary(recipient: Recipient) -> dict:
    return {
        "recipient": recipient.pk,
        "name": recipient.name,
        "role": recipient.role,
        "country": recipient.country,
        "contract_reference": recipient.contract_reference,
    }


def _parent(value):
    if value in (None, "", UNSET):
        return None if value is not UNSET else UNSET
    if isinstance(value, Recipient):
        return value
    found = Recipient.objects.filter(pk=value).first() if str(value).isdigit() else None
    if found is None:
        raise _problem("parent", MSG_UNKNOWN_RECIPIENT.format(pk=value))
    return found


RECIPIENT_FIELDS = (
    "name",
    "role",
    "parent",
    "country",
    "contact",
    "contract_reference",
    "contract_signed_on",
    "contract_review_on",
    "security_measures",
    "purposes",
    "notes",
    "active",
)


def _recipient_save(*, actor: User, recipient: Recipient, fields: dict) -> Recipient:
    if "parent" in fields:
        fields = {**fields, "parent": _parent(fields["parent"])}
    if isinstance(fields.get("country"), str):
        fields = {**fields, "country": fields["country"].strip().upper()}
    return _save(
        entity="recipient",
        actor=actor,
        entry=recipient,
        fields=fields,
        check=_recipient_check,
        created_event="registers.recipient_created",
        summary=_recipient_summary,
    )


@audit.records_refusal("registers.recipient_refused", actor="actor")
@transaction.atomic
def recipient_create(*, actor: User, **fields: Any) -> Recipient:
    """Record a processor, sub-processor or other recipient (Art. 30(1)(d), Art. 28)."""
    return _recipient_save(
        actor=actor, recipient=Recipient(), fields=_known(fields, RECIPIENT_FIELDS)
    )


@audit.records_refusal("registers.recipient_refused", target="recipient", actor="actor")
@transaction.atomic
def recipient_update(*, actor: User, recipient: Recipient, **fields: Any) -> Recipient:
    require(policy.may_keep(actor))
    recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
    return _recipient_save(
        actor=actor, recipient=recipient, fields=_known(fields, RECIPIENT_FIELDS)
    )


def _known(fields: dict, names: tuple[str, ...]) -> dict:
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise _problem(unknown[0], f"Unknown field {unknown[0]!r}.")
    return fields


# --- transfers --------------------------------------------------------------------------------

TRANSFER_FIELDS = (
    "recipient",
    "country",
    "safeguard",
    "safeguard_reference",
    "derogation_reason",
    "tia_completed_on",
    "purposes",
    "data_categories",
    "started_on",
    "ended_on",
    "notes",
)


def _transfer_check(transfer: Transfer, links: dict) -> None:
    if transfer.country in EEA:
        raise _problem("country", MSG_IN_EEA.format(country=transfer.country))
    if transfer.safeguard == Transfer.Safeguard.DEROGATION and not transfer.derogation_reason:
        raise _problem("derogation_reason", MSG_DEROGATION)
    if transfer.started_on and transfer.ended_on and transfer.ended_on < transfer.started_on:
        raise _problem("ended_on", MSG_ENDED_BEFORE)


def _transfer_summary(transfer: Transfer) -> dict:
    return {
        "transfer": transfer.pk,
        "recipient": transfer.recipient_id,
        "country": transfer.country,
        "safeguard": transfer.safeguard,
        "safeguard_reference": transfer.safeguard_reference,
    }


def _transfer_save(*, actor: User, transfer: Transfer, fields: dict) -> Transfer:
    fields = dict(fields)
    if "recipient" in fields and not isinstance(fields["recipient"], Recipient):
        value = fields["recipient"]
        found = Recipient.objects.filter(pk=value).first() if str(value).isdigit() else None
        if found is None:
            raise _problem("recipient", MSG_UNKNOWN_RECIPIENT.format(pk=value))
        fields["recipient"] = found
    if isinstance(fields.get("country"), str):
        fields["country"] = fields["country"].strip().upper()
    if transfer.pk is None and not fields.get("safeguard"):
        raise _problem("safeguard", MSG_SAFEGUARD)
    return _save(
        entity="transfer",
        actor=actor,
        entry=transfer,
        fields=fields,
        check=_transfer_check,
        created_event="registers.transfer_created",
        summary=_transfer_summary,
    )


@audit.records_refusal("registers.transfer_refused", actor="actor")
@transaction.atomic
def transfer_create(*, actor: User, **fields: Any) -> Transfer:
    """Record a transfer to a third country and its safeguard (Art. 30(1)(e), Art. 44-49)."""
    return _transfer_save(actor=actor, transfer=Transfer(), fields=_known(fields, TRANSFER_FIELDS))


@audit.records_refusal("registers.transfer_refused", target="transfer", actor="actor")
@transaction.atomic
def transfer_update(*, actor: User, transfer: Transfer, **fields: Any) -> Transfer:
    require(policy.may_keep(actor))
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    return _transfer_save(actor=actor, transfer=transfer, fields=_known(fields, TRANSFER_FIELDS))


# --- DPIAs ------------------------------------------------------------------------------------

DPIA_FIELDS = (
    "reference",
    "title",
    "purposes",
    "datasets",
    "status",
    "residual_risk",
    "prior_consultation",
    "dpo_advice",
    "summary",
    "completed_on",
    "review_on",
    "document_url",
)


def _dpia_check(dpia: Dpia, links: dict) -> None:
    if dpia.status == Dpia.Status.COMPLETED:
        if dpia.completed_on is None:
            raise _problem("completed_on", MSG_DPIA_COMPLETED_DATES)
        if dpia.review_on is None:
            raise _problem("review_on", MSG_DPIA_COMPLETED_DATES)
        if dpia.residual_risk == Dpia.Risk.HIGH and not dpia.prior_consultation:
            raise _problem("prior_consultation", MSG_DPIA_CONSULTATION)
    if dpia.completed_on and dpia.review_on and dpia.review_on <= dpia.completed_on:
        raise _problem("review_on", MSG_DPIA_REVIEW_BEFORE)


def _dpia_summary(dpia: Dpia) -> dict:
    return {
        "dpia": dpia.pk,
        "reference": dpia.reference,
        "status": dpia.status,
        "residual_risk": dpia.residual_risk,
        "review_on": dpia.review_on,
    }


def _dpia_save(*, actor: User, dpia: Dpia, fields: dict) -> Dpia:
    return _save(
        entity="dpia",
        actor=actor,
        entry=dpia,
        fields=fields,
        check=_dpia_check,
        created_event="registers.dpia_created",
        summary=_dpia_summary,
    )


@audit.records_refusal("registers.dpia_refused", actor="actor")
@transaction.atomic
def dpia_create(*, actor: User, **fields: Any) -> Dpia:
    """Record a DPIA (Art. 35) linked to the purposes and datasets it assessed."""
    return _dpia_save(actor=actor, dpia=Dpia(), fields=_known(fields, DPIA_FIELDS))


@audit.records_refusal("registers.dpia_refused", target="dpia", actor="actor")
@transaction.atomic
def dpia_update(*, actor: User, dpia: Dpia, **fields: Any) -> Dpia:
    require(policy.may_keep(actor))
    dpia = Dpia.objects.select_for_update().get(pk=dpia.pk)
    return _dpia_save(actor=actor, dpia=dpia, fields=_known(fields, DPIA_FIELDS))


# --- legitimate-interest assessments ----------------------------------------------------------

LIA_FIELDS = (
    "purpose",
    "reference",
    "interest",
    "necessity",
    "balancing",
    "safeguards",
    "outcome",
    "assessed_on",
    "review_on",
)


def _lia_check(lia: LegitimateInterestAssessment, links: dict) -> None:
    if lia.purpose.legal_basis != LegalBasis.LEGITIMATE_INTERESTS:
        raise _problem(
            "purpose",
            MSG_LIA_BASIS.format(
                slug=lia.purpose.slug, basis=lia.purpose.get_legal_basis_display()
            ),
        )
    if lia.assessed_on and lia.assessed_on > timezone.now().date():
        raise _problem("assessed_on", MSG_LIA_FUTURE)


def _lia_summary(lia: LegitimateInterestAssessment) -> dict:
    return {
        "lia": lia.pk,
        "reference": lia.reference,
        "purpose": lia.purpose.slug,
        "outcome": lia.outcome,
        "review_on": lia.review_on,
    }


def _lia_save(*, actor: User, lia: LegitimateInterestAssessment, fields: dict):
    fields = dict(fields)
    if "purpose" in fields and not isinstance(fields["purpose"], Purpose):
        (fields["purpose"],) = _purposes([fields["purpose"]]) if fields["purpose"] else [None]
        if fields["purpose"] is None:
            raise _problem("purpose", MSG_UNKNOWN_PURPOSE.format(slug=""))
    if lia.pk is None and "purpose" not in fields:
        raise _problem("purpose", MSG_UNKNOWN_PURPOSE.format(slug=""))
    return _save(
        entity="lia",
        actor=actor,
        entry=lia,
        fields=fields,
        check=_lia_check,
        created_event="registers.lia_created",
        summary=_lia_summary,
    )


@audit.records_refusal("registers.lia_refused", actor="actor")
@transaction.atomic
def lia_create(*, actor: User, **fields: Any) -> LegitimateInterestAssessment:
    """Record the legitimate-interest assessment of a purpose based on Art. 6(1)(f)."""
    return _lia_save(
        actor=actor, lia=LegitimateInterestAssessment(), fields=_known(fields, LIA_FIELDS)
    )


@audit.records_refusal("registers.lia_refused", target="lia", actor="actor")
@transaction.atomic
def lia_update(
    *, actor: User, lia: LegitimateInterestAssessment, **fields: Any
) -> LegitimateInterestAssessment:
    require(policy.may_keep(actor))
    lia = LegitimateInterestAssessment.objects.select_for_update().get(pk=lia.pk)
    return _lia_save(actor=actor, lia=lia, fields=_known(fields, LIA_FIELDS))


# --- breaches ---------------------------------------------------------------------------------

BREACH_FIELDS = (
    "reference",
    "title",
    "description",
    "became_aware_at",
    "occurred_from",
    "occurred_until",
    "confidentiality",
    "integrity",
    "availability",
    "datasets",
    "data_categories",
    "subjects_affected",
    "records_affected",
    "likely_consequences",
    "measures_taken",
    "risk",
    "authority_notified_at",
    "authority_reference",
    "authority_delay_reason",
    "not_notified_reason",
    "subjects_notified_at",
    "subjects_not_notified_reason",
    "status",
)


def _breach_check(breach: Breach, links: dict) -> None:
    now = timezone.now()
    if not (breach.confidentiality or breach.integrity or breach.availability):
        raise _problem("confidentiality", MSG_BREACH_NATURE)
    if breach.became_aware_at > now:
        raise _problem("became_aware_at", MSG_BREACH_FUTURE)
    notified = breach.authority_notified_at
    if notified is not None:
        if notified < breach.became_aware_at:
            raise _problem("authority_notified_at", MSG_BREACH_NOTIFIED_BEFORE)
        if breach.authority_notified_late and not breach.authority_delay_reason:
            raise _problem(
                "authority_delay_reason",
                MSG_BREACH_LATE.format(deadline=breach.authority_deadline.isoformat()),
            )
    if breach.status == Breach.Status.CLOSED:
        if breach.needs_authority and notified is None:
            raise _problem("authority_notified_at", MSG_BREACH_CLOSE_AUTHORITY)
        if not breach.needs_authority and notified is None and not breach.not_notified_reason:
            raise _problem("not_notified_reason", MSG_BREACH_CLOSE_NO_RISK)
        if (
            breach.risk == Breach.Risk.HIGH_RISK
            and breach.subjects_notified_at is None
            and not breach.subjects_not_notified_reason
        ):
            raise _problem("subjects_notified_at", MSG_BREACH_CLOSE_SUBJECTS)
        if breach.closed_at is None:
            breach.closed_at = now


def _breach_summary(breach: Breach) -> dict:
    return {
        "breach": breach.pk,
        "reference": breach.reference,
        "risk": breach.risk,
        "status": breach.status,
        "became_aware_at": breach.became_aware_at,
        "authority_deadline": breach.authority_deadline,
        "authority_notified_at": breach.authority_notified_at,
        "authority_notified_late": breach.authority_notified_late,
        "subjects_notified_at": breach.subjects_notified_at,
    }


def _breach_save(*, actor: User, breach: Breach, fields: dict) -> Breach:
    return _save(
        entity="breach",
        actor=actor,
        entry=breach,
        fields=fields,
        check=_breach_check,
        created_event="registers.breach_recorded",
        summary=_breach_summary,
    )


@audit.records_refusal("registers.breach_refused", actor="actor")
@transaction.atomic
def breach_create(*, actor: User, **fields: Any) -> Breach:
    """Record a personal-data breach (Art. 33(5)); the 72-hour clock runs from
    ``became_aware_at``."""
    return _breach_save(actor=actor, breach=Breach(), fields=_known(fields, BREACH_FIELDS))


@audit.records_refusal("registers.breach_refused", target="breach", actor="actor")
@transaction.atomic
def breach_update(*, actor: User, breach: Breach, **fields: Any) -> Breach:
    """Record what happened since: the authority notified (late: with the reasons), the
    subjects told or why not, the breach closed. A closed breach is not reopened."""
    require(policy.may_keep(actor))
    breach = Breach.objects.select_for_update().get(pk=breach.pk)
    if breach.status == Breach.Status.CLOSED:
        raise _problem("status", MSG_BREACH_REOPEN)
    return _breach_save(actor=actor, breach=breach, fields=_known(fields, BREACH_FIELDS))


# --- processing records -----------------------------------------------------------------------


@audit.records_refusal("registers.processing_record_refused", actor="actor")
@transaction.atomic
def processing_record_set(
    *,
    actor: User,
    purpose: str,
    security_measures: str | object = UNSET,
    no_transfers: bool | object = UNSET,
    no_recipients: bool | object = UNSET,
) -> ProcessingRecord:
    """Record, for one purpose, its security measures (Art. 30(1)(g)) and whether it has no
    third-country transfers or no recipients, so the RoPA can state them as facts."""
    require(policy.may_keep(actor))
    if purpose_current(str(purpose)) is None:
        raise _problem("purpose", MSG_PROCESSING_PURPOSE.format(slug=purpose))
    record = ProcessingRecord.objects.select_for_update().filter(purpose_slug=purpose).first()
    if record is None:
        record = ProcessingRecord(purpose_slug=purpose)
    changed = []
    for name, value in (
        ("security_measures", security_measures),
        ("no_transfers", no_transfers),
        ("no_recipients", no_recipients),
    ):
        if value is not UNSET:
            setattr(record, name, value.strip() if isinstance(value, str) else bool(value))
            changed.append(name)
    record.updated_by = actor
    record.updated_at = timezone.now()
    record.save()
    audit.record(
        action="registers.processing_record_set",
        target=record,
        actor=actor,
        data={
            "purpose": purpose,
            "security_measures": record.security_measures,
            "no_transfers": record.no_transfers,
            "no_recipients": record.no_recipients,
            "changed": changed,
        },
    )
    return record


# --- reads ------------------------------------------------------------------------------------


def entry_get_for(*, viewer: User, kind: str, pk) -> Any:
    """A register entry the viewer may read; NotFound or NotPermitted otherwise."""
    from governance.registers.kinds import KINDS

    require(policy.may_read(viewer))
    model = KINDS[kind].model
    entry = model.objects.filter(pk=pk).first() if str(pk).isdigit() else None
    if entry is None:
        raise NotFound(policy.MSG_ENTRY_NOT_FOUND)
    require(policy.may_see(viewer, kind, entry))
    return entry
