"""``Principal``: who is asking, or who holds a grant — a person, a service account or a role.

Its label (``user:bob``, ``service_account:churn-training``, ``role:steward``) is how the
ledger, leases, alerts and the API name principals; this module is the only place that builds
or parses one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group

from governance.accounts.models import ServiceAccount, User
from governance.accounts.roles import Role

USER = "user"
SERVICE_ACCOUNT = "service_account"
ROLE = "role"
KINDS = (USER, SERVICE_ACCOUNT, ROLE)

MSG_LABEL = "Name the principal as user:NAME, role:NAME or service_account:NAME."


@dataclass(frozen=True)
class Principal:
    kind: str
    name: str
    user: User | None = None  # the person, or the service account's identity
    group: Group | None = None  # the role's group

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def of(cls, *, user: User | None = None, group: Group | None = None) -> Principal:
        """The principal of a grant or request row (exactly one of user and group), or of a
        caller (``user``)."""
        if group is not None:
            return cls(ROLE, group.name, group=group)
        if user is None:
            raise ValueError("a principal needs a user or a group")
        if user.is_service_account:
            return cls(SERVICE_ACCOUNT, user.service_account.name, user=user)
        return cls(USER, user.username, user=user)

    @classmethod
    def of_row(cls, row) -> Principal:
        """The principal of a row with ``principal_user`` / ``principal_group`` (a grant or an
        access request)."""
        return cls.of(user=row.principal_user, group=row.principal_group)

    @staticmethod
    def split(label: str) -> tuple[str, str]:
        """``"kind:name"`` → (kind, name); ValueError when it is not a principal label."""
        kind, sep, name = (label or "").strip().partition(":")
        if not sep or kind not in KINDS or not name:
            raise ValueError(MSG_LABEL)
        return kind, name

    @classmethod
    def resolve(cls, label: str) -> Principal | None:
        """The principal a label names, if it exists and can hold a grant: an active person, a
        role, or a service account that is not revoked."""
        try:
            kind, name = cls.split(label)
        except ValueError:
            return None
        if kind == USER:
            user = User.objects.filter(username=name, kind=User.Kind.PERSON, is_active=True).first()
            return cls(USER, name, user=user) if user else None
        if kind == ROLE:
            group = Group.objects.filter(name=name).first() if name in Role.values else None
            return cls(ROLE, name, group=group) if group else None
        account = (
            ServiceAccount.objects.select_related("user", "owner")
            .filter(name=name, revoked_at=None)
            .first()
        )
        return cls(SERVICE_ACCOUNT, name, user=account.user) if account else None

    # --- reading ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    def __str__(self) -> str:
        return self.label

    @property
    def is_role(self) -> bool:
        return self.kind == ROLE

    @property
    def service_account(self) -> ServiceAccount | None:
        return self.user.service_account if self.kind == SERVICE_ACCOUNT else None

    @property
    def accountable(self) -> User | None:
        """The person accountable for what this principal does: the person, a service
        account's owner; a role has none of its own (each member is accountable for
        themself)."""
        if self.kind == USER:
            return self.user
        if self.kind == SERVICE_ACCOUNT:
            return self.service_account.owner
        return None

    def benefits(self, person: User) -> bool:
        """Would ``person`` gain access through a grant to this principal? The person
        themself, the owner of the service account, or a member of the role."""
        if self.kind == ROLE:
            return self.group.user_set.filter(pk=person.pk).exists()
        return self.user.pk == person.pk or (
            self.kind == SERVICE_ACCOUNT and self.service_account.owner_id == person.pk
        )

    def as_row(self) -> dict:
        """``principal_user`` / ``principal_group`` for a grant or request row."""
        return {"principal_user": self.user, "principal_group": self.group}
