"""Who keeps and who reads the registers — the one owner of these rules.

Privacy officers keep the registers (they record, change and close entries). Auditors and
administrators read every entry and change nothing. Stewards read the entries that concern
the datasets they steward: DPIAs and breaches linked to those datasets, and recipients,
transfers, legitimate-interest assessments and processing records of the purposes approved
for them. Nobody else reads the registers."""

from __future__ import annotations

from django.db.models import Q

from datasets.models import Dataset
from datasets.policy import stewarded_by
from governance.accounts.models import User
from governance.accounts.policy import holds_role
from governance.accounts.roles import Role
from governance.policy import Refusal, forbidden, not_found

KEEPERS = (Role.PRIVACY_OFFICER,)
READERS = (Role.PRIVACY_OFFICER, Role.AUDITOR, Role.ADMIN)

MSG_KEEP = "Only privacy officers keep the registers; auditors and administrators read them."
MSG_READ = (
    "Only privacy officers, auditors, administrators and stewards (for their datasets) read "
    "the registers."
)
MSG_ENTRY_NOT_FOUND = "No such register entry."


def _person(user: User | None) -> bool:
    return user is not None and not getattr(user, "is_service_account", False)


def may_keep(user: User | None) -> Refusal | None:
    """Record or change a register entry."""
    if _person(user) and holds_role(user, *KEEPERS):
        return None
    return forbidden(MSG_KEEP)


def may_read_all(user: User | None) -> bool:
    return _person(user) and holds_role(user, *READERS)


def may_read(user: User | None) -> Refusal | None:
    """See the registers at all (the lists; stewards see part of them)."""
    if may_read_all(user) or (_person(user) and holds_role(user, Role.STEWARD)):
        return None
    return forbidden(MSG_READ)


def stewarded_purposes(user: User):
    """Slugs of the purposes approved (and not revoked) for datasets ``user`` stewards."""
    from governance.access.models import PurposeApproval

    return PurposeApproval.objects.filter(
        dataset__in=Dataset.objects.filter(stewarded_by(user)), revoked_at__isnull=True
    ).values("purpose_slug")


def visible_to(user: User | None, kind: str) -> Q:
    """The entries of register ``kind`` the user reads (filter form of ``may_see``)."""
    if may_read_all(user):
        return Q()
    if may_read(user) is not None:
        return Q(pk__in=[])
    datasets = Dataset.objects.filter(stewarded_by(user)).values("pk")
    purposes = stewarded_purposes(user)
    return {
        "recipients": Q(purposes__slug__in=purposes),
        "transfers": Q(purposes__slug__in=purposes) | Q(recipient__purposes__slug__in=purposes),
        "dpias": Q(datasets__in=datasets) | Q(purposes__slug__in=purposes),
        "lias": Q(purpose__slug__in=purposes),
        "breaches": Q(datasets__in=datasets),
        "processing": Q(purpose_slug__in=purposes),
    }[kind]


def purposes_visible_to(user: User | None) -> Q:
    """The purposes whose processing records the user reads (a filter on consent.Purpose)."""
    if may_read_all(user):
        return Q()
    if may_read(user) is not None:
        return Q(pk__in=[])
    return Q(slug__in=stewarded_purposes(user))


def may_see(user: User | None, kind: str, entry) -> Refusal | None:
    """One entry: readers see all, stewards those concerning their datasets (another
    steward's entry does not exist for them); others may not read the registers at all."""
    if may_read_all(user):
        return None
    refusal = may_read(user)
    if refusal is not None:
        return refusal
    if type(entry).objects.filter(visible_to(user, kind), pk=entry.pk).exists():
        return None
    return not_found(MSG_ENTRY_NOT_FOUND)
