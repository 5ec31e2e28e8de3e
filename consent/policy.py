"""The consent registry's rules — the one owner of "which purpose version counts", "is consent
valid at T" and "who may do what with purposes and consent".

Which version of a purpose counts:
- ``purpose_current(slug)``: the version in use now (active), or else the latest — what grants,
  approvals and requests refer to;
- ``purpose_in_force(slug, at)``: the version that was active at a moment — what a question
  about that moment (filter, export, retention) is answered with.

Whether consent is valid: ``is_valid_at`` (one record), ``valid_at_q`` (a queryset of records)
and ``valid_sql`` (the same rule inside the history SQL). Consent is valid at T when the
deciding record is ``given`` or ``renewed`` and its validity (``valid_until``) lies after T.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, IntegerField, Q, Value, When

from consent.models import Purpose
from consent.vocab import VALID_FOR_PROCESSING, ConsentStatus
from governance.accounts.models import User
from governance.accounts.policy import holds_role, role_holders, sign_off_refusal
from governance.accounts.roles import Role
from governance.errors import ApplicationError
from governance.policy import (
    Refusal,
    conflict,
    fingerprint,
    forbidden,
    holds_permission,
    invalid,
    stale_signoff,
)

MSG_VIEW_FORBIDDEN = "You do not have permission to see purposes."
MSG_CREATE_FORBIDDEN = "Only stewards and privacy officers can register purposes."
MSG_CHANGE_FORBIDDEN = "Only stewards and privacy officers can change purposes."
MSG_NOT_OWNER = (
    "Only the purpose's owner, privacy officers and administrators change it (or publish its "
    "notices)."
)
MSG_ACTIVATE_FORBIDDEN = (
    "Only a privacy officer can activate a purpose: activation is the legal sign-off."
)
MSG_RETURN_FORBIDDEN = "Only a privacy officer returns a submitted purpose."
MSG_OWN_SIGN_OFF = (
    "You created, edited or submitted this purpose; another privacy officer must activate it."
)
MSG_NOTICE_FORBIDDEN = "Only stewards and privacy officers can publish privacy notices."
MSG_HISTORY_FORBIDDEN = (
    "Reading consent histories needs the permission consent.view_consentevent (stewards, "
    "privacy officers, auditors) or consent.add_consentevent (source systems)."
)
MSG_RECEIPT_FORBIDDEN = (
    "Consent receipts are for stewards, privacy officers and auditors "
    "(permission consent.view_consentevent)."
)
MSG_STATS_FORBIDDEN = "Consent statistics are for stewards, privacy officers and auditors."
MSG_RECORD_FORBIDDEN = (
    "Recording consent events needs the permission consent.add_consentevent "
    "(stewards, privacy officers, and source systems granted it)."
)
MSG_QUERY_FORBIDDEN = (
    "Filtering and exporting consent needs the permission consent.query_consent "
    "(training jobs and engineers granted it, privacy officers)."
)
MSG_SNAPSHOT_FORBIDDEN = (
    "You may read only the snapshots you made (or hold consent.view_consentsnapshot)."
)
MSG_CAPABILITY_FORBIDDEN = "Only an administrator can grant consent capabilities."
MSG_PURPOSE_NOT_FOUND = "There is no purpose '{slug}'."
MSG_NOT_IN_FORCE = "Purpose '{slug}' was not active at {moment}; no version of it was in force."
MSG_NOT_CONSENT = (
    "Purpose '{slug}' is processed under {basis}, not consent: there is no consent to filter on."
)


# --- which purpose version counts -------------------------------------------------------------


def purposes_current(slugs) -> dict[str, Purpose]:
    """``purpose_current`` for several slugs, in one query."""
    slugs = set(slugs)
    if not slugs:
        return {}
    found: dict[str, Purpose] = {}
    for purpose in (
        Purpose.objects.filter(slug__in=slugs)
        .annotate(
            _active_first=Case(
                When(status=Purpose.Status.ACTIVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("slug", "_active_first", "-version")
    ):
        found.setdefault(purpose.slug, purpose)
    return found


def purpose_current(slug: str) -> Purpose | None:
    """The active version of a purpose, or (if none is active) its latest version; one query."""
    return (
        Purpose.objects.filter(slug=slug)
        .annotate(
            _active_first=Case(
                When(status=Purpose.Status.ACTIVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("_active_first", "-version")
        .first()
    )


# The same choice as ``purpose_current``, as SQL for the check's one-statement fact gathering:
# the ORDER BY of ``consent_purpose`` rows of one slug (LIMIT 1 takes the current one).
# Parameter: %(active)s (``Purpose.Status.ACTIVE``). tests/access/test_check_facts.py proves
# both forms agree.
PURPOSE_CURRENT_ORDER_SQL = "CASE WHEN status = %(active)s THEN 0 ELSE 1 END, version DESC"


def purpose_in_force(*, slug: str, at: datetime, consent_only: bool = True) -> Purpose:
    """The version of ``slug`` that was active at ``at``: what a question about that moment is
    answered with. Raises a domain error naming the purpose when there is none."""
    versions = Purpose.objects.filter(slug=slug)
    purpose = (
        versions.filter(activated_at__lte=at)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=at))
        .order_by("-activated_at")
        .first()
    )
    if purpose is None:
        if not versions.exists():
            raise ApplicationError(MSG_PURPOSE_NOT_FOUND.format(slug=slug), {"field": "purpose"})
        raise ApplicationError(
            MSG_NOT_IN_FORCE.format(slug=slug, moment=at.isoformat()), {"field": "purpose"}
        )
    if consent_only and not purpose.is_consent_based:
        raise ApplicationError(
            MSG_NOT_CONSENT.format(slug=slug, basis=purpose.get_legal_basis_display()),
            {"field": "purpose"},
        )
    return purpose


# --- is consent valid at T --------------------------------------------------------------------


def is_valid_at(*, status: str, valid_until: datetime | None, at: datetime) -> bool:
    """Consent is valid at ``at`` when its deciding record is given or renewed and its
    validity has not run out by then."""
    return status in VALID_FOR_PROCESSING and (valid_until is None or valid_until > at)


MSG_NOTHING_TO_WITHDRAW = "There is no given consent to withdraw: it is {status}."


def withdrawal_refusal(state, *, at: datetime) -> Refusal | None:
    """A withdrawal on a person's request (``consent_withdraw``: the portal) is of consent that
    is given now; consent already withdrawn, refused, expired or never recorded for the
    purpose's active version has nothing to withdraw (409). Events a source reports through the
    API keep their own order (``consent_record``): this rule is for the person in front of us."""
    if state is None:
        return conflict(MSG_NOTHING_TO_WITHDRAW.format(status="not recorded"), status=None)
    if state.purpose.status != "active":
        return conflict(
            MSG_NOTHING_TO_WITHDRAW.format(status="recorded for an earlier version only"),
            status=None,
        )
    if not is_valid_at(status=state.status, valid_until=state.valid_until, at=at):
        status = effective_status(status=state.status, valid_until=state.valid_until, at=at)
        return conflict(MSG_NOTHING_TO_WITHDRAW.format(status=status), status=status)
    return None


def effective_status(*, status: str, valid_until: datetime | None, at: datetime) -> str:
    """The status as it reads at ``at``: valid consent past its validity reads as expired."""
    if status in VALID_FOR_PROCESSING and not is_valid_at(
        status=status, valid_until=valid_until, at=at
    ):
        return ConsentStatus.EXPIRED
    return status


def valid_at_q(at: datetime, prefix: str = "") -> Q:
    """The same rule over records (ConsentState or ConsentEvent rows, or rows joined through
    ``prefix``)."""
    return Q(**{f"{prefix}status__in": sorted(VALID_FOR_PROCESSING)}) & (
        Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gt": at})
    )


def valid_sql(alias: str) -> str:
    """The same rule in SQL over ``alias.status`` and ``alias.valid_until``, comparing with one
    ``%s`` parameter (the moment)."""
    statuses = ", ".join(f"'{s}'" for s in sorted(VALID_FOR_PROCESSING))
    return (
        f"{alias}.status IN ({statuses}) "
        f"AND ({alias}.valid_until IS NULL OR {alias}.valid_until > %s)"
    )


# --- who may ------------------------------------------------------------------------------------


def _perm(user: User | None, perm: str, message: str) -> Refusal | None:
    """``user=None`` is the system (manage.py, demo data, tasks): whoever runs it has the
    server already."""
    if user is None:
        return None
    if holds_permission(user, perm):
        return None
    return forbidden(message)


def _views_every_purpose(user: User | None) -> bool:
    return user is None or any(
        holds_permission(user, perm)
        for perm in ("consent.view_purpose", "consent.add_consentevent", "consent.query_consent")
    )


def _granted_purpose_slugs(user: User) -> set[str]:
    """The purposes of the grants ``user`` may use now (a job reads the terms it works under)."""
    from django.utils import timezone

    from governance.access.models import Grant
    from governance.access.policy import grants_usable_by

    if not getattr(user, "is_authenticated", False):
        return set()
    return set(
        Grant.objects.filter(grants_usable_by(user))
        .filter(status=Grant.Status.ACTIVE, expires_at__gt=timezone.now())
        .values_list("purpose_slug", flat=True)
    )


def may_view_purposes(user: User | None) -> Refusal | None:
    """People with the view permission; the service accounts that record or query consent (a
    source shows subjects the notices; a job reads what the purpose permits); and anyone with a
    usable grant, for the purposes of their grants (``purposes_visible_to``)."""
    if _views_every_purpose(user) or _granted_purpose_slugs(user):
        return None
    return _perm(user, "consent.view_purpose", MSG_VIEW_FORBIDDEN)


def purposes_visible_to(user: User | None) -> Q:
    """Which purposes (every version, with their notices) ``user`` may read; call after
    ``may_view_purposes``."""
    if _views_every_purpose(user):
        return Q()
    return Q(slug__in=_granted_purpose_slugs(user))


def may_create_purpose(user: User | None) -> Refusal | None:
    return _perm(user, "consent.add_purpose", MSG_CREATE_FORBIDDEN)


PURPOSE_OWNER_ROLES = (Role.STEWARD, Role.PRIVACY_OFFICER, Role.ADMIN)
MSG_OWNER_NOT_ELIGIBLE = (
    "A purpose's owner is a person who may change purposes: a steward, a privacy officer or an "
    "administrator."
)


def may_own_purpose(user: User | None) -> Refusal | None:
    if holds_role(user, *PURPOSE_OWNER_ROLES):
        return None
    return invalid(MSG_OWNER_NOT_ELIGIBLE, field="owner")


def purpose_owner_candidates() -> Q:
    """People who may own a purpose (filter form of ``may_own_purpose``)."""
    return role_holders(*PURPOSE_OWNER_ROLES)


def _owns(user: User, purpose: Purpose) -> bool:
    return holds_role(user, Role.PRIVACY_OFFICER, Role.ADMIN) or purpose.owner_id == user.pk


def may_change_purpose(user: User | None, purpose: Purpose) -> Refusal | None:
    """Edit a draft, submit, retire, make a new version: the purpose's owner (a steward),
    privacy officers and administrators — not every steward."""
    if refusal := _perm(user, "consent.change_purpose", MSG_CHANGE_FORBIDDEN):
        return refusal
    if user is not None and not _owns(user, purpose):
        return forbidden(MSG_NOT_OWNER)
    return None


def may_version_purpose(user: User | None, purpose: Purpose) -> Refusal | None:
    return may_create_purpose(user) or may_change_purpose(user, purpose)


def may_activate(user: User | None, purpose: Purpose) -> Refusal | None:
    """The legal sign-off: a privacy officer, never whoever created or submitted the version."""
    if user is not None and not holds_role(user, Role.PRIVACY_OFFICER):
        return forbidden(MSG_ACTIVATE_FORBIDDEN)
    return sign_off_refusal(
        user,
        message=MSG_OWN_SIGN_OFF,
        created_by_id=purpose.created_by_id,
        submitted_by_id=purpose.submitted_by_id,
        contributed=user is not None
        and purpose.pk is not None
        and purpose.editors.filter(pk=user.pk).exists(),
    )


def activatable_by(user: User | None) -> Q:
    """Submitted versions ``user`` may activate (filter form of ``may_activate``)."""
    submitted = Q(status=Purpose.Status.SUBMITTED)
    if user is None:
        return submitted
    if not holds_role(user, Role.PRIVACY_OFFICER):
        return Q(pk__in=[])
    return submitted & ~Q(created_by=user) & ~Q(submitted_by=user) & ~Q(editors=user)


def may_return(user: User | None) -> Refusal | None:
    if user is None or holds_role(user, Role.PRIVACY_OFFICER):
        return None
    return forbidden(MSG_RETURN_FORBIDDEN)


def may_publish_notice(user: User | None, purpose: Purpose) -> Refusal | None:
    if refusal := _perm(user, "consent.add_noticeversion", MSG_NOTICE_FORBIDDEN):
        return refusal
    if user is not None and not _owns(user, purpose):
        return forbidden(MSG_NOT_OWNER)
    return None


def may_read_history(user: User | None) -> Refusal | None:
    if user is None:
        return None
    if any(
        holds_permission(user, perm)
        for perm in ("consent.view_consentevent", "consent.add_consentevent")
    ):
        return None
    return forbidden(MSG_HISTORY_FORBIDDEN)


def may_read_receipts(user: User | None) -> Refusal | None:
    return _perm(user, "consent.view_consentevent", MSG_RECEIPT_FORBIDDEN)


def may_see_stats(user: User | None) -> Refusal | None:
    return _perm(user, "consent.view_consentstate", MSG_STATS_FORBIDDEN)


def may_record(user: User | None) -> Refusal | None:
    return _perm(user, "consent.add_consentevent", MSG_RECORD_FORBIDDEN)


def may_query(user: User | None) -> Refusal | None:
    return _perm(user, "consent.query_consent", MSG_QUERY_FORBIDDEN)


def may_read_snapshot(user: User | None, snapshot) -> Refusal | None:
    """Whoever took the snapshot, or anyone holding consent.view_consentsnapshot. An access
    decision's snapshot is shared by every decision that named it: anyone who may query
    consent reads it (it names a question and a count, no subject)."""
    if user is None or (snapshot is not None and snapshot.created_by_id == user.pk):
        return None
    if (
        snapshot is not None
        and snapshot.kind == "decision"
        and holds_permission(user, "consent.query_consent")
    ):
        return None
    return _perm(user, "consent.view_consentsnapshot", MSG_SNAPSHOT_FORBIDDEN)


def may_grant_capabilities(user: User | None) -> Refusal | None:
    if user is None or holds_role(user, Role.ADMIN):
        return None
    return forbidden(MSG_CAPABILITY_FORBIDDEN)


_SIGNED_FIELDS = (
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
    "owner_id",
    "submitted_at",
)


def signoff_subject(purpose) -> tuple[int, str]:
    """What a privacy officer activates: this version with these contents and notices (a
    resubmission counts as a change). ``purpose_activate`` refuses a sign-off of others."""
    from consent.models import NoticeVersion

    notices = list(
        NoticeVersion.objects.filter(purpose=purpose).order_by("pk").values_list("pk", "text")
    )
    document = {name: getattr(purpose, name) for name in _SIGNED_FIELDS}
    document["notices"] = notices
    return purpose.version, fingerprint(document)


def stale_activation_refusal(purpose, *, seen_fingerprint: str | None) -> Refusal | None:
    """An activation made on the purpose as it was before a change is refused (409)."""
    version, digest = signoff_subject(purpose)
    return stale_signoff(
        seen_version=None,
        seen_fingerprint=seen_fingerprint,
        version=version,
        current_fingerprint=digest,
        what="purpose",
    )


def activation_checklist(purpose) -> list[tuple[str, str]]:
    """What a privacy officer confirms before activating a purpose (the legal sign-off): the
    portal shows these items and the service checks every one was ticked."""
    items = [
        (
            "legal_basis",
            f"The legal basis ({purpose.get_legal_basis_display()}) fits the processing described.",
        ),
        (
            "minimal",
            "The data categories are the minimum the purpose needs: "
            + (", ".join(purpose.data_categories) or "none"),
        ),
        ("retention", f"Keeping the data {purpose.retention_days} days is justified."),
    ]
    if purpose.is_consent_based:
        items.append(
            (
                "notice",
                "The privacy notice tells subjects what this purpose does, and how to withdraw.",
            )
        )
    if purpose.special_categories:
        items.append(
            (
                "art9",
                f"The Art. 9(2) condition ({purpose.get_special_category_condition_display()}) "
                f"applies and the DPIA ({purpose.dpia_reference}) covers this processing.",
            )
        )
    return items
