"""Writes for purposes and privacy notices.

A purpose moves draft → submitted → active → retired. Only drafts are edited; a purpose that
has been submitted or activated changes by a new version (a new draft with version + 1), which
needs its own activation. Only a person holding the privacy_officer role activates: activation
is the legal sign-off, and the administrator's "every permission" deliberately does not cover
it. Activating version N retires the version it replaces in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from consent import policy, taxonomy
from consent.identifiers import label_problems, taxonomy_key_problems
from consent.models import MAX_CONSENT_VALIDITY_MONTHS, NoticeVersion, Purpose
from consent.vocab import LegalBasis, SpecialCategoryCondition
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict
from governance.policy import require, signoff_problems

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_RETENTION_DAYS = 36_500

MSG_CREATE_FORBIDDEN = policy.MSG_CREATE_FORBIDDEN
MSG_CHANGE_FORBIDDEN = policy.MSG_CHANGE_FORBIDDEN
MSG_ACTIVATE_FORBIDDEN = policy.MSG_ACTIVATE_FORBIDDEN
MSG_NOTICE_FORBIDDEN = policy.MSG_NOTICE_FORBIDDEN
MSG_SLUG = (
    "A purpose slug is 3-64 characters of lowercase letters, digits and single hyphens "
    "(for example churn-model-training)."
)
MSG_SLUG_TAKEN = "A purpose with this slug already exists; create a new version of it instead."
MSG_REQUIRED = "This field is required."
MSG_BASIS = "Choose one of the GDPR Art. 6(1) legal bases."
MSG_VALIDITY_REQUIRED = (
    f"Consent-based purposes need a consent validity period of 1-{MAX_CONSENT_VALIDITY_MONTHS} "
    "months, after which consent counts as expired."
)
MSG_VALIDITY_NOT_CONSENT = "A consent validity period applies only when the legal basis is consent."
MSG_WITHDRAWAL_REQUIRED = (
    "Tell subjects how to withdraw: withdrawing must be as easy as giving consent (Art. 7(3))."
)
MSG_CONDITION_REQUIRED = (
    "Processing special categories of data needs an Art. 9(2) condition, and a DPIA reference."
)
MSG_CONDITION_NOT_SPECIAL = "An Art. 9(2) condition applies only to special categories of data."
MSG_CONDITION_INVALID = "Choose one of the Art. 9(2) conditions."
MSG_DPIA_REQUIRED = "Purposes that process special categories of data need a DPIA reference."
MSG_CATEGORIES_REQUIRED = "Name at least one data category (catalog taxonomy key)."
MSG_SUBJECT_CATEGORIES_REQUIRED = "Name at least one category of data subjects."
MSG_RECIPIENT = "Each recipient is 1-200 characters."
MSG_RETENTION = f"The retention period is 1-{MAX_RETENTION_DAYS} days."
MSG_NOT_DRAFT = (
    "Only a draft can be edited. This purpose is {status}: create a new version to change it."
)
MSG_NOT_SUBMITTED = "Only a purpose awaiting activation can be {verb}; this one is {status}."
MSG_ALREADY_RETIRED = "This purpose is already retired."
MSG_REASON_REQUIRED = "Give a reason."
MSG_NOTICE_NEEDED = (
    "A consent-based purpose needs a published privacy notice before it can be {verb}: "
    "every consent event names the notice the subject saw."
)
MSG_OPEN_VERSION_EXISTS = (
    "Version {version} of this purpose is still a draft or awaiting activation; "
    "finish or retire it first."
)
MSG_NEW_VERSION_FROM = "New versions are made from an active or retired purpose."
MSG_NOTICE_RETIRED = "Notices cannot be published for a retired purpose."
MSG_NOTICE_CONTENT = "Give the notice text, or the URL where it is published."
MSG_NOTICE_URL = "The notice URL must start with https:// or http://."
MSG_NOTICE_HASH_REQUIRED = (
    "A notice published only by URL needs the SHA-256 (64 hex digits) of the document at that "
    "URL, so that receipts prove which text the subject saw."
)
MSG_NOTICE_HASH_FORMAT = "The content hash is a SHA-256: 64 hexadecimal digits."
MSG_NOTICE_HASH_MISMATCH = "The content hash does not match the notice text."
MSG_LANGUAGE = "Give a language tag such as en or de-CH."

# The fields a draft can change (slug and version never change).
EDITABLE_FIELDS = (
    "name",
    "description",
    "legal_basis",
    "special_categories",
    "special_category_condition",
    "data_categories",
    "data_subject_categories",
    "recipients",
    "retention_days",
    "dpia_reference",
    "controller",
    "controller_contact",
    "withdrawal_method",
    "consent_validity_months",
    "owner",
)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def purpose_problems(fields: dict[str, Any]) -> dict[str, str]:
    """Every problem with a purpose's fields, by field name; empty when they are acceptable.
    The portal form shows all of them; the services raise the first."""
    problems: dict[str, str] = {}
    for name in ("name", "description", "controller", "controller_contact"):
        if not str(fields.get(name) or "").strip():
            problems[name] = MSG_REQUIRED
    basis = fields.get("legal_basis")
    if basis not in LegalBasis.values:
        problems["legal_basis"] = MSG_BASIS
    validity = fields.get("consent_validity_months")
    if basis == LegalBasis.CONSENT:
        if validity is None or not 1 <= validity <= MAX_CONSENT_VALIDITY_MONTHS:
            problems["consent_validity_months"] = MSG_VALIDITY_REQUIRED
        if not str(fields.get("withdrawal_method") or "").strip():
            problems["withdrawal_method"] = MSG_WITHDRAWAL_REQUIRED
    elif validity is not None:
        problems["consent_validity_months"] = MSG_VALIDITY_NOT_CONSENT
    condition = fields.get("special_category_condition") or ""
    if fields.get("special_categories"):
        if not condition:
            problems["special_category_condition"] = MSG_CONDITION_REQUIRED
        elif condition not in SpecialCategoryCondition.values:
            problems["special_category_condition"] = MSG_CONDITION_INVALID
        if not str(fields.get("dpia_reference") or "").strip():
            problems["dpia_reference"] = MSG_DPIA_REQUIRED
    elif condition:
        problems["special_category_condition"] = MSG_CONDITION_NOT_SPECIAL
    categories = list(fields.get("data_categories") or [])
    if not categories:
        problems["data_categories"] = MSG_CATEGORIES_REQUIRED
    elif bad := taxonomy_key_problems(categories):
        problems["data_categories"] = bad[0]
    elif unknown := taxonomy.unknown_keys(categories):
        problems["data_categories"] = taxonomy.MSG_UNKNOWN_CATEGORY.format(keys=", ".join(unknown))
    subject_categories = list(fields.get("data_subject_categories") or [])
    if not subject_categories:
        problems["data_subject_categories"] = MSG_SUBJECT_CATEGORIES_REQUIRED
    elif bad := label_problems(subject_categories):
        problems["data_subject_categories"] = bad[0]
    if any(not 1 <= len(r) <= 200 for r in fields.get("recipients") or []):
        problems["recipients"] = MSG_RECIPIENT
    retention = fields.get("retention_days")
    if retention is None or not 1 <= retention <= MAX_RETENTION_DAYS:
        problems["retention_days"] = MSG_RETENTION
    return problems


def _raise_first(problems: dict[str, str]) -> None:
    if problems:
        field, message = next(iter(problems.items()))
        raise ApplicationError(message, {"field": field, "fields": problems})


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    for name in ("data_categories", "data_subject_categories", "recipients"):
        if name in fields:
            fields[name] = _unique(fields[name] or [])
    for name in ("name", "description", "controller", "controller_contact", "dpia_reference"):
        if name in fields and fields[name] is not None:
            fields[name] = str(fields[name]).strip()
    fields["special_category_condition"] = fields.get("special_category_condition") or ""
    return fields


@audit.records_refusal("purpose.create_refused", actor="actor")
@transaction.atomic
def purpose_create(
    *,
    slug: str,
    name: str,
    description: str,
    legal_basis: str,
    retention_days: int,
    controller: str,
    controller_contact: str,
    owner: User,
    actor: User | None,
    data_categories: Iterable[str] = (),
    data_subject_categories: Iterable[str] = (),
    recipients: Iterable[str] = (),
    special_categories: bool = False,
    special_category_condition: str = "",
    dpia_reference: str = "",
    withdrawal_method: str = "",
    consent_validity_months: int | None = None,
) -> Purpose:
    """Register a new purpose as a draft (version 1)."""
    require(policy.may_create_purpose(actor))
    if not SLUG.match(slug or "") or not 3 <= len(slug) <= 64:
        raise ApplicationError(MSG_SLUG, {"field": "slug"})
    fields = _normalise(
        {
            "name": name,
            "description": description,
            "legal_basis": legal_basis,
            "retention_days": retention_days,
            "controller": controller,
            "controller_contact": controller_contact,
            "owner": owner,
            "data_categories": list(data_categories),
            "data_subject_categories": list(data_subject_categories),
            "recipients": list(recipients),
            "special_categories": special_categories,
            "special_category_condition": special_category_condition,
            "dpia_reference": dpia_reference,
            "withdrawal_method": withdrawal_method,
            "consent_validity_months": consent_validity_months,
        }
    )
    _raise_first(purpose_problems(fields))
    require(policy.may_own_purpose(owner))
    if Purpose.objects.filter(slug=slug).exists():
        raise Conflict(MSG_SLUG_TAKEN, {"field": "slug"})
    # django-auditlog records the new row (and every later edit of the draft).
    return Purpose.objects.create(slug=slug, version=1, created_by=actor, **fields)


def _locked(purpose: Purpose) -> Purpose:
    return Purpose.objects.select_for_update().get(pk=purpose.pk)


@audit.records_refusal("purpose.update_refused", target="purpose", actor="actor")
@transaction.atomic
def purpose_update(*, purpose: Purpose, actor: User | None, **changes: Any) -> Purpose:
    """Change a draft. Anything else is versioned (``purpose_new_version``), not edited."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    purpose = _locked(purpose)
    require(policy.may_change_purpose(actor, purpose))
    if purpose.status != Purpose.Status.DRAFT:
        raise Conflict(MSG_NOT_DRAFT.format(status=purpose.get_status_display().lower()))
    current = {name: getattr(purpose, name) for name in EDITABLE_FIELDS}
    fields = _normalise(current | changes)
    _raise_first(purpose_problems(fields))
    changed = [name for name in EDITABLE_FIELDS if fields[name] != current[name]]
    if not changed:
        return purpose
    if "owner" in changed:
        require(policy.may_own_purpose(fields["owner"]))
    for name in changed:
        setattr(purpose, name, fields[name])
    purpose.updated_at = timezone.now()
    purpose.save(update_fields=[*changed, "updated_at"])
    if actor is not None:
        purpose.editors.add(actor)  # none of them signs this version off
    return purpose


def _has_notice(purpose: Purpose) -> bool:
    return NoticeVersion.objects.filter(purpose=purpose).exists()


@audit.records_refusal("purpose.submission_refused", target="purpose", actor="actor")
@transaction.atomic
def purpose_submit(*, purpose: Purpose, actor: User | None) -> Purpose:
    """Ask a privacy officer for activation. The draft is frozen from here on."""
    purpose = _locked(purpose)
    require(policy.may_change_purpose(actor, purpose))
    if purpose.status != Purpose.Status.DRAFT:
        raise Conflict(MSG_NOT_DRAFT.format(status=purpose.get_status_display().lower()))
    problems = purpose_problems({n: getattr(purpose, n) for n in EDITABLE_FIELDS})
    if "data_categories" not in problems and (
        art9 := taxonomy.art9_problem(purpose.data_categories, declared=purpose.special_categories)
    ):
        problems["special_categories"] = art9
    _raise_first(problems)
    if purpose.is_consent_based and not _has_notice(purpose):
        raise ApplicationError(MSG_NOTICE_NEEDED.format(verb="submitted"), {"field": "notices"})
    purpose.status = Purpose.Status.SUBMITTED
    purpose.submitted_at = timezone.now()
    purpose.submitted_by = actor
    purpose.save(update_fields=["status", "submitted_at", "submitted_by"])
    audit.record(
        action="purpose.submitted",
        target=purpose,
        actor=actor,
        data={"slug": purpose.slug, "version": purpose.version},
    )
    return purpose


@audit.records_refusal("purpose.activation_refused", target="purpose", actor="actor")
@transaction.atomic
def purpose_activate(
    *,
    purpose: Purpose,
    actor: User | None,
    note: str = "",
    checklist: Iterable[str] | None = None,
    fingerprint: str | None = None,
) -> Purpose:
    """The privacy officer's legal sign-off, never by whoever created or submitted this
    version. Retires the version this one replaces. Through the portal it comes with a note
    and every item of ``policy.activation_checklist`` confirmed (``checklist``); both are
    kept on record. ``fingerprint`` names the contents signed off (``policy.signoff_subject``;
    the portal always gives it): a purpose changed since is refused (409)."""
    purpose = _locked(purpose)
    require(policy.may_activate(actor, purpose))
    require(policy.stale_activation_refusal(purpose, seen_fingerprint=fingerprint))
    note = (note or "").strip()
    if checklist is not None:
        checklist = sorted(set(checklist))
        problems = signoff_problems(
            policy.activation_checklist(purpose), note=note, confirmed=checklist
        )
        if problems:
            field, message = next(iter(problems.items()))
            raise ApplicationError(message, {"field": field, "fields": problems})
    if purpose.status != Purpose.Status.SUBMITTED:
        raise Conflict(
            MSG_NOT_SUBMITTED.format(verb="activated", status=purpose.get_status_display().lower())
        )
    if purpose.is_consent_based and not _has_notice(purpose):
        raise ApplicationError(MSG_NOTICE_NEEDED.format(verb="activated"), {"field": "notices"})
    now = timezone.now()
    superseded = (
        Purpose.objects.select_for_update()
        .filter(slug=purpose.slug, status=Purpose.Status.ACTIVE)
        .first()
    )
    if superseded is not None:
        # Retire first: at most one active version per slug is a database constraint.
        superseded.status = Purpose.Status.RETIRED
        superseded.retired_at = now
        superseded.retired_by = actor
        superseded.retired_reason = f"Superseded by version {purpose.version}."
        superseded.save(update_fields=["status", "retired_at", "retired_by", "retired_reason"])
        audit.record(
            action="purpose.retired",
            target=superseded,
            actor=actor,
            data={
                "slug": superseded.slug,
                "version": superseded.version,
                "reason": superseded.retired_reason,
            },
        )
    purpose.status = Purpose.Status.ACTIVE
    purpose.activated_at = now
    purpose.activated_by = actor
    purpose.activation_note = note
    purpose.save(update_fields=["status", "activated_at", "activated_by", "activation_note"])
    audit.record(
        action="purpose.activated",
        target=purpose,
        actor=actor,
        data={
            "slug": purpose.slug,
            "version": purpose.version,
            "legal_basis": purpose.legal_basis,
            "superseded_version": superseded.version if superseded else None,
            "note": note,
            "checklist": checklist,
        },
    )
    return purpose


@audit.records_refusal("purpose.return_refused", target="purpose", actor="actor")
@transaction.atomic
def purpose_return(*, purpose: Purpose, actor: User | None, reason: str) -> Purpose:
    """A privacy officer sends a submitted purpose back to its authors as a draft."""
    require(policy.may_return(actor))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REASON_REQUIRED, {"field": "reason"})
    purpose = _locked(purpose)
    if purpose.status != Purpose.Status.SUBMITTED:
        raise Conflict(
            MSG_NOT_SUBMITTED.format(verb="returned", status=purpose.get_status_display().lower())
        )
    purpose.status = Purpose.Status.DRAFT
    purpose.submitted_at = None
    purpose.submitted_by = None
    purpose.save(update_fields=["status", "submitted_at", "submitted_by"])
    audit.record(
        action="purpose.returned",
        target=purpose,
        actor=actor,
        data={"slug": purpose.slug, "version": purpose.version, "reason": reason},
    )
    return purpose


@audit.records_refusal("purpose.retire_refused", target="purpose", actor="actor")
@transaction.atomic
def purpose_retire(*, purpose: Purpose, actor: User | None, reason: str) -> Purpose:
    """Stop the purpose: no more consent events, filter and export refuse it from now on
    (questions about the time it was active are still answered)."""
    purpose = _locked(purpose)
    require(policy.may_change_purpose(actor, purpose))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REASON_REQUIRED, {"field": "reason"})
    if purpose.status == Purpose.Status.RETIRED:
        raise Conflict(MSG_ALREADY_RETIRED)
    purpose.status = Purpose.Status.RETIRED
    purpose.retired_at = timezone.now()
    purpose.retired_by = actor
    purpose.retired_reason = reason
    purpose.save(update_fields=["status", "retired_at", "retired_by", "retired_reason"])
    audit.record(
        action="purpose.retired",
        target=purpose,
        actor=actor,
        data={"slug": purpose.slug, "version": purpose.version, "reason": reason},
    )
    return purpose


@audit.records_refusal("purpose.version_refused", target="purpose", actor="actor")
@transaction.atomic
def purpose_new_version(*, purpose: Purpose, actor: User | None) -> Purpose:
    """A draft copy (version + 1) of an active or retired purpose, to change what is in use.
    Consent given to one version does not carry over: the new version asks again."""
    purpose = _locked(purpose)
    require(policy.may_version_purpose(actor, purpose))
    if purpose.status not in (Purpose.Status.ACTIVE, Purpose.Status.RETIRED):
        raise Conflict(MSG_NEW_VERSION_FROM)
    versions = Purpose.objects.select_for_update().filter(slug=purpose.slug)
    open_version = versions.filter(
        status__in=[Purpose.Status.DRAFT, Purpose.Status.SUBMITTED]
    ).first()
    if open_version is not None:
        raise Conflict(MSG_OPEN_VERSION_EXISTS.format(version=open_version.version))
    number = (versions.aggregate(m=Max("version"))["m"] or 0) + 1
    draft = Purpose.objects.create(
        slug=purpose.slug,
        version=number,
        previous=purpose,
        created_by=actor,
        **{name: getattr(purpose, name) for name in EDITABLE_FIELDS},
    )
    return draft


def notice_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@audit.records_refusal("notice.publish_refused", target="purpose", actor="actor")
@transaction.atomic
def notice_version_publish(
    *,
    purpose: Purpose,
    actor: User | None,
    text: str = "",
    url: str = "",
    content_hash: str = "",
    effective_from: datetime | None = None,
    language: str = "en",
) -> NoticeVersion:
    """Publish the next version of the purpose's privacy notice. Notices are append-only: a
    correction is a new version. ``effective_from`` may lie in the future (a scheduled change);
    consent can only name a notice already in effect when the subject acted."""
    purpose = _locked(purpose)
    require(policy.may_publish_notice(actor, purpose))
    if purpose.status == Purpose.Status.RETIRED:
        raise Conflict(MSG_NOTICE_RETIRED)
    text = (text or "").strip()
    url = (url or "").strip()
    content_hash = (content_hash or "").strip().lower()
    if not text and not url:
        raise ApplicationError(MSG_NOTICE_CONTENT, {"field": "text"})
    if url and not url.startswith(("https://", "http://")):
        raise ApplicationError(MSG_NOTICE_URL, {"field": "url"})
    if content_hash and not SHA256_HEX.match(content_hash):
        raise ApplicationError(MSG_NOTICE_HASH_FORMAT, {"field": "content_hash"})
    if text:
        computed = notice_hash(text)
        if content_hash and content_hash != computed:
            raise ApplicationError(MSG_NOTICE_HASH_MISMATCH, {"field": "content_hash"})
        content_hash = computed
    elif not content_hash:
        raise ApplicationError(MSG_NOTICE_HASH_REQUIRED, {"field": "content_hash"})
    if not LANGUAGE.match(language or ""):
        raise ApplicationError(MSG_LANGUAGE, {"field": "language"})
    number = (purpose.notices.aggregate(m=Max("version"))["m"] or 0) + 1
    notice = NoticeVersion.objects.create(
        purpose=purpose,
        version=number,
        language=language,
        text=text,
        url=url,
        content_hash=content_hash,
        effective_from=effective_from or timezone.now(),
        published_by=actor,
    )
    audit.record(
        action="notice.published",
        target=notice,
        actor=actor,
        data={
            "purpose": purpose.slug,
            "purpose_version": purpose.version,
            "notice_version": number,
            "content_hash": content_hash,
            "effective_from": notice.effective_from,
        },
    )
    return notice
