"""Access governance rules — the one owner of "who may request, approve, grant, revoke,
acknowledge and see" (see governance/policy.py for the shape of a rule).

Four eyes everywhere: nobody approves a request they made or would gain access through (as the
person, the owner of the service account, or a member of the role it names), nobody grants
directly to themselves, nobody attests their own training. Stewardship counts only while the
steward role is held (``datasets.policy.is_steward_of``); the privacy officer's part is a role,
never an administrator's "every permission".
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import Group
from django.db.models import Q
from django.utils import timezone

from datasets import policy as catalog
from datasets.models import Dataset
from governance.access.models import AccessRequest, Alert, Grant
from governance.accounts.models import ServiceAccount, User
from governance.accounts.policy import holds_role, is_active_person
from governance.accounts.principal import Principal
from governance.accounts.roles import Role
from governance.policy import Refusal, conflict, forbidden, holds_permission, invalid

MSG_REQUEST_FORBIDDEN = "Only people with a role that may request access can request it."
MSG_PRINCIPAL = (
    "Request for yourself ('self'), for a role you hold ('role:NAME'), or for a "
    "service account you own ('service_account:NAME')."
)
MSG_SELF_APPROVAL = "You requested this access; someone else must approve it."
MSG_BENEFICIARY = "You would gain access through this request; someone who would not must decide."
MSG_APPROVER = (
    "Only a steward of this dataset, or a privacy officer when the dataset holds "
    "special categories, can decide on this request."
)
MSG_NOT_PENDING = "This request is {status}."
MSG_ALREADY_APPROVED_BY_YOU = "You already approved this request; it waits for another approver."
MSG_WITHDRAW_FORBIDDEN = "Only the requester withdraws a request."
MSG_COMMENT_FORBIDDEN = "Only the requester and the approvers can comment."
MSG_GRANT_DIRECT_FORBIDDEN = "Only administrators grant access without a request."
MSG_OWNER_CONFLICT = (
    "This person granted or approved the service account's access; they cannot become the "
    "owner accountable for it."
)
MSG_DIRECT_BENEFIT = (
    "You would gain access through this grant yourself; another administrator must grant it, "
    "or request it."
)
MSG_REVOKE_FORBIDDEN = (
    "Only the dataset's stewards, privacy officers, administrators or the "
    "grantee can revoke a grant."
)
MSG_ACK_FORBIDDEN = "Only the grantee (for a service account: its owner) acknowledges a grant."
MSG_DATASET_ACCESS_FORBIDDEN = (
    "Only the dataset's stewards, privacy officers, administrators and auditors see who may "
    "read it."
)
MSG_APPROVALS_VIEW_FORBIDDEN = (
    "Only stewards, privacy officers, administrators and auditors see purpose approvals."
)
MSG_PURPOSE_APPROVAL_FORBIDDEN = "Only a privacy officer approves datasets for purposes."
MSG_TRAINING_FORBIDDEN = "Only administrators and privacy officers record training."
MSG_OWN_TRAINING = "Nobody records their own privacy training; ask another privacy officer."
MSG_ALERTS_FORBIDDEN = (
    "Only privacy officers, administrators, auditors and stewards see alerts on unusual access."
)
MSG_ALERT_FORBIDDEN = (
    "Only privacy officers, administrators and the stewards of the dataset acknowledge alerts."
)

_SEES_ALL = (Role.PRIVACY_OFFICER, Role.AUDITOR, Role.ADMIN)
_NONE = Q(pk__in=[])


def sees_all(user: User | None) -> bool:
    return holds_role(user, *_SEES_ALL)


def is_privacy_officer(user: User | None) -> bool:
    return holds_role(user, Role.PRIVACY_OFFICER) and is_active_person(user)


# --- principals and grants ---------------------------------------------------------------------


def grants_usable_by(user: User, prefix: str = "") -> Q:
    """Grants (or requests, with ``prefix``) whose principal is ``user`` or a role ``user``
    holds."""
    groups = Group.objects.filter(user=user, name__in=Role.values).values("pk")
    return Q(**{f"{prefix}principal_user": user}) | Q(**{f"{prefix}principal_group__in": groups})


# The same rule as ``grants_usable_by``, as SQL for the check's one-statement fact gathering
# (governance/access/services/check.py). Parameters: %(user)s, %(roles)s (``Role.values``).
# tests/access/test_check_facts.py proves both forms select the same grants.
GRANTS_USABLE_BY_SQL = (
    "(principal_user_id = %(user)s OR principal_group_id IN ("
    "SELECT ug.group_id FROM accounts_user_groups ug "
    "JOIN auth_group ag ON ag.id = ug.group_id "
    "WHERE ug.user_id = %(user)s AND ag.name = ANY(%(roles)s)))"
)


def accountable_for(grant: Grant, caller: User) -> User:
    """Who must acknowledge ``grant`` for ``caller`` to use it: a person grantee themself, a
    service account's owner, or for a role grant the calling member (or their owner)."""
    if grant.principal_user_id is not None:
        return Principal.of(user=grant.principal_user).accountable
    return Principal.of(user=caller).accountable


def requestable_principal(requester: User, label: str) -> Principal:
    """The principal a requester may ask for: themself, a role they hold, or a service account
    they own (not revoked). Raises a 400 naming the choices otherwise."""
    label = (label or "self").strip()
    if label == "self":
        return Principal.of(user=requester)
    principal = Principal.resolve(label)
    if principal is None or principal.kind == "user":
        raise invalid(MSG_PRINCIPAL, field="principal").error()
    if principal.is_role and holds_role(requester, principal.name):
        return principal
    account = principal.service_account
    if account is not None and account.owner_id == requester.pk:
        return principal
    # It exists, and it is not the requester's to ask for.
    raise forbidden(MSG_PRINCIPAL, field="principal").error()


def may_request(user: User | None) -> Refusal | None:
    if is_active_person(user) and holds_permission(user, "access.add_accessrequest"):
        return None
    return forbidden(MSG_REQUEST_FORBIDDEN)


# --- deciding on requests ----------------------------------------------------------------------


def _beneficiary_refusal(user: User, request: AccessRequest) -> Refusal | None:
    if user.pk == request.requester_id:
        return forbidden(MSG_SELF_APPROVAL)
    if Principal.of_row(request).benefits(user):
        return forbidden(MSG_BENEFICIARY)
    return None


def _not_pending(request: AccessRequest) -> Refusal | None:
    if request.status != AccessRequest.Status.PENDING:
        return conflict(MSG_NOT_PENDING.format(status=request.get_status_display().lower()))
    return None


def approval_capacity(user: User | None, request: AccessRequest) -> str | None:
    """The capacity in which ``user`` approves now: ``steward`` or ``privacy_officer`` (two
    different people for restricted data), or None."""
    if not is_active_person(user):
        return None
    if (
        request.steward_approved_by_id is None
        and request.privacy_approved_by_id != user.pk
        and catalog.is_steward_of(user, request.dataset)
    ):
        return "steward"
    if (
        request.needs_privacy_officer
        and request.privacy_approved_by_id is None
        and request.steward_approved_by_id != user.pk
        and is_privacy_officer(user)
    ):
        return "privacy_officer"
    return None


def may_approve(user: User | None, request: AccessRequest) -> Refusal | None:
    """A steward of the dataset (while holding the role) or, for restricted data, a privacy
    officer; never the requester nor anyone the grant would benefit; each person once."""
    if refusal := _not_pending(request):
        return refusal
    if not is_active_person(user):
        return forbidden(MSG_APPROVER)
    if refusal := _beneficiary_refusal(user, request):
        return refusal
    if approval_capacity(user, request) is not None:
        return None
    if user.pk in (request.steward_approved_by_id, request.privacy_approved_by_id):
        return conflict(MSG_ALREADY_APPROVED_BY_YOU)
    return forbidden(MSG_APPROVER)


def approvable_by(user: User | None) -> Q:
    """Requests ``user`` may approve now (filter form of ``may_approve``): the inbox."""
    if not is_active_person(user):
        return _NONE
    owned = ServiceAccount.objects.filter(owner=user).values("user_id")
    member_of = Group.objects.filter(user=user).values("pk")
    as_steward = Q(dataset__in=Dataset.objects.filter(catalog.stewarded_by(user))) & Q(
        steward_approved_by__isnull=True
    )
    as_steward &= ~Q(privacy_approved_by=user)
    capacities = as_steward
    if is_privacy_officer(user):
        capacities |= Q(needs_privacy_officer=True, privacy_approved_by__isnull=True) & ~Q(
            steward_approved_by=user
        )
    return (
        Q(status=AccessRequest.Status.PENDING)
        & capacities
        & ~Q(requester=user)
        & ~Q(principal_user=user)
        & ~Q(principal_user__in=owned)
        & ~Q(principal_group__in=member_of)
    )


def may_deny(user: User | None, request: AccessRequest) -> Refusal | None:
    """Whoever may decide: a steward of the dataset, or a privacy officer for restricted data;
    never the requester nor a beneficiary."""
    if refusal := _not_pending(request):
        return refusal
    if not is_active_person(user):
        return forbidden(MSG_APPROVER)
    if refusal := _beneficiary_refusal(user, request):
        return refusal
    if catalog.is_steward_of(user, request.dataset) or (
        request.needs_privacy_officer and is_privacy_officer(user)
    ):
        return None
    return forbidden(MSG_APPROVER)


def may_withdraw(user: User | None, request: AccessRequest) -> Refusal | None:
    if refusal := _not_pending(request):
        return refusal
    if user is not None and user.pk == request.requester_id:
        return None
    return forbidden(MSG_WITHDRAW_FORBIDDEN)


def may_comment(user: User | None, request: AccessRequest) -> Refusal | None:
    if user is not None and (
        user.pk == request.requester_id
        or catalog.is_steward_of(user, request.dataset)
        or is_privacy_officer(user)
    ):
        return None
    return forbidden(MSG_COMMENT_FORBIDDEN)


def requests_visible_to(user: User | None) -> Q:
    """The requester, the dataset's stewards, and privacy officers, auditors, admins."""
    if sees_all(user):
        return Q()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return _NONE
    return Q(requester=user) | Q(dataset__in=Dataset.objects.filter(catalog.stewarded_by(user)))


# --- grants --------------------------------------------------------------------------------------


def may_grant_directly(actor: User | None, principal: Principal) -> Refusal | None:
    """An administrator, without a request (recorded as such) — never to themselves, a role
    they hold or a service account they own."""
    if not (is_active_person(actor) and holds_role(actor, Role.ADMIN)):
        return forbidden(MSG_GRANT_DIRECT_FORBIDDEN)
    if principal.benefits(actor):
        return forbidden(MSG_DIRECT_BENEFIT)
    return None


def may_revoke(user: User | None, grant: Grant) -> Refusal | None:
    if not (user is not None and getattr(user, "is_authenticated", False) and user.is_active):
        return forbidden(MSG_REVOKE_FORBIDDEN)
    if holds_role(user, Role.ADMIN) or is_privacy_officer(user):
        return None
    if catalog.is_steward_of(user, grant.dataset):
        return None
    if grant.principal_user_id is not None:
        grantee = Principal.of(user=grant.principal_user)
        if grantee.accountable is not None and grantee.accountable.pk == user.pk:
            return None
    return forbidden(MSG_REVOKE_FORBIDDEN)


def may_acknowledge(user: User | None, grant: Grant) -> Refusal | None:
    """The person accountable for the grant: the grantee, a service account's owner, or for a
    role grant each member for themself."""
    if not is_active_person(user):
        return forbidden(MSG_ACK_FORBIDDEN)
    if grant.principal_user_id is not None:
        allowed = accountable_for(grant, user).pk == user.pk
    else:
        allowed = holds_role(user, grant.principal_group.name)
    return None if allowed else forbidden(MSG_ACK_FORBIDDEN)


def grant_state(grant: Grant, now: datetime | None = None) -> str:
    """The status a grant has at `now`: an active grant past its expiry is expired the moment
    it expires, not when the beat job marks it (the portal and the API both read this)."""
    now = now or timezone.now()
    if grant.status == Grant.Status.ACTIVE and grant.expires_at <= now:
        return Grant.Status.EXPIRED
    return grant.status


def grants_visible_to(user: User | None) -> Q:
    """Privacy officers, auditors and administrators see every grant; stewards the grants of
    their datasets; everyone the grants they can use or are accountable for."""
    if sees_all(user):
        return Q()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return _NONE
    return Q(dataset__in=Dataset.objects.filter(catalog.stewarded_by(user))) | grants_of(user)


def grants_of(user: User) -> Q:
    """Grants ``user`` can use or is accountable for: their own, their roles', and those of the
    service accounts they own."""
    owned = User.objects.filter(service_account__owner=user).values("pk")
    return grants_usable_by(user) | Q(principal_user__in=owned)


def owner_conflict(account: ServiceAccount, owner: User) -> Refusal | None:
    """A service account's new owner must not be someone who granted it access directly or
    approved one of its requests (they would approve their own access, in two steps).
    Read by ``governance.accounts.policy.may_transfer_service_account``."""
    grants = Grant.objects.filter(principal_user=account.user, status=Grant.Status.ACTIVE)
    decided = (
        grants.filter(direct=True, granted_by=owner).exists()
        or grants.filter(
            Q(request__steward_approved_by=owner) | Q(request__privacy_approved_by=owner)
        ).exists()
    )
    return forbidden(MSG_OWNER_CONFLICT) if decided else None


# --- datasets, purposes, training ---------------------------------------------------------------


def may_manage_dataset_access(user: User | None, dataset: Dataset) -> Refusal | None:
    """Revoke any grant of the dataset: its stewards, privacy officers, administrators."""
    if holds_role(user, Role.ADMIN) or is_privacy_officer(user):
        return None
    if catalog.is_steward_of(user, dataset):
        return None
    return forbidden(MSG_DATASET_ACCESS_FORBIDDEN)


def may_see_dataset_access(user: User | None, dataset: Dataset) -> Refusal | None:
    if holds_role(user, Role.AUDITOR) or may_manage_dataset_access(user, dataset) is None:
        return None
    return forbidden(MSG_DATASET_ACCESS_FORBIDDEN)


def may_view_purpose_approvals(user: User | None) -> Refusal | None:
    if holds_role(user, Role.STEWARD, *_SEES_ALL):
        return None
    return forbidden(MSG_APPROVALS_VIEW_FORBIDDEN)


def purpose_approvals_visible_to(user: User | None) -> Q:
    """Approvers and readers see every purpose approval; anyone else those of approved
    datasets (what they could request)."""
    if may_view_purpose_approvals(user) is None:
        return Q()
    return Q(dataset__status=Dataset.Status.APPROVED)


def may_approve_purpose_use(user: User | None) -> Refusal | None:
    if is_privacy_officer(user):
        return None
    return forbidden(MSG_PURPOSE_APPROVAL_FORBIDDEN)


def may_record_training(actor: User | None, person: User | None = None) -> Refusal | None:
    if not (holds_role(actor, Role.ADMIN) or is_privacy_officer(actor)):
        return forbidden(MSG_TRAINING_FORBIDDEN)
    if person is not None and person.pk == actor.pk:
        return forbidden(MSG_OWN_TRAINING)
    return None


def training_visible_to(user: User | None) -> Q:
    if sees_all(user):
        return Q()
    if user is None or not getattr(user, "is_authenticated", False):
        return _NONE
    return Q(user=user)


# --- alerts --------------------------------------------------------------------------------------


def may_view_alerts(user: User | None) -> Refusal | None:
    if holds_role(user, Role.STEWARD, *_SEES_ALL):
        return None
    return forbidden(MSG_ALERTS_FORBIDDEN)


def _stewarded_slugs(user: User) -> list[str]:
    return sorted(Dataset.objects.filter(catalog.stewarded_by(user)).values_list("slug", flat=True))


def alerts_visible_to(user: User | None) -> Q:
    """All alerts for privacy officers, administrators and auditors; for stewards, those naming
    one of their datasets."""
    if may_view_alerts(user) is not None:
        return _NONE
    if sees_all(user):
        return Q()
    slugs = _stewarded_slugs(user)
    if not slugs:
        return _NONE
    return Q(dataset__in=slugs) | Q(details__datasets__has_any_keys=slugs)


def may_acknowledge_alert(user: User | None, alert: Alert) -> Refusal | None:
    if holds_role(user, Role.PRIVACY_OFFICER, Role.ADMIN):
        return None
    if holds_role(user, Role.STEWARD):
        from governance.access.alerts import alert_datasets

        if set(alert_datasets(alert)) & set(_stewarded_slugs(user)):
            return None
    return forbidden(MSG_ALERT_FORBIDDEN)


# --- privacy budgets and pseudonymization keys ---------------------------------------------------

MSG_BUDGET_SET_FORBIDDEN = (
    "Only the dataset's stewards, privacy officers and administrators set its privacy budget."
)
MSG_BUDGET_VIEW_FORBIDDEN = (
    "Only the dataset's stewards, privacy officers, administrators and auditors see its "
    "privacy budget."
)
MSG_CLAIM_COMMIT_FORBIDDEN = (
    "Only the job that acquired a budget claim, or the person accountable for it, commits it."
)
MSG_CLAIM_FORBIDDEN = (
    "Only the job that acquired a budget claim (or its owner, the dataset's stewards, privacy "
    "officers and administrators) can commit, release or read it."
)


def may_set_budget(user: User | None, dataset: Dataset) -> Refusal | None:
    """Require differential privacy of a dataset: whoever manages its access."""
    if is_active_person(user) and may_manage_dataset_access(user, dataset) is None:
        return None
    return forbidden(MSG_BUDGET_SET_FORBIDDEN)


def may_view_budget(user: User | None, dataset: Dataset) -> Refusal | None:
    if may_see_dataset_access(user, dataset) is None:
        return None
    return forbidden(MSG_BUDGET_VIEW_FORBIDDEN)


def budgets_visible_to(user: User | None) -> Q:
    """Datasets whose budget ``user`` sees (filter form of ``may_view_budget``)."""
    if holds_role(user, Role.AUDITOR, Role.ADMIN) or is_privacy_officer(user):
        return Q()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return _NONE
    return Q(pk__in=Dataset.objects.filter(catalog.stewarded_by(user)).values("pk"))


def _claimant_or_owner(user: User | None, claim) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if claim.principal_id == user.pk:
        return True
    accountable = Principal.of(user=claim.principal).accountable
    return accountable is not None and accountable.pk == user.pk and is_active_person(user)


def may_commit_claim(user: User | None, claim) -> Refusal | None:
    """Commit (spend) a claim: only the job that acquired it, or the person accountable for
    that service account — whoever knows that results computed with it were released."""
    return None if _claimant_or_owner(user, claim) else forbidden(MSG_CLAIM_COMMIT_FORBIDDEN)


def may_release_claim(user: User | None, claim) -> Refusal | None:
    """Release (return) a claim: the job, its owner (a crashed job's claim), or whoever
    manages the dataset's access."""
    if _claimant_or_owner(user, claim):
        return None
    if is_active_person(user) and may_manage_dataset_access(user, claim.dataset) is None:
        return None
    return forbidden(MSG_CLAIM_FORBIDDEN)


def may_read_claim(user: User | None, claim) -> Refusal | None:
    if may_release_claim(user, claim) is None or holds_role(user, Role.AUDITOR):
        return None
    return forbidden(MSG_CLAIM_FORBIDDEN)
