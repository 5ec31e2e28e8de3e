from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from governance.accounts.roles import Role

SERVICE_USERNAME_PREFIX = "svc."


class User(AbstractUser):
    """A person using the portal, or the identity of a service account (kind=service).

    Service accounts are users so that the audit log's actor, object permissions and grants
    work the same for people and training jobs; they have no usable password and cannot log
    in to the portal."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        SERVICE = "service", "Service account"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERSON)
    # Raised when the person's second factor is reset: every session verified before no
    # longer counts as verified (governance/accounts/second_factor.py).
    second_factor_epoch = models.PositiveIntegerField(default=0)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["person", "service"]), name="accounts_user_kind_valid"
            ),
        ]

    @property
    def is_service_account(self) -> bool:
        return self.kind == self.Kind.SERVICE

    @property
    def roles(self) -> list[str]:
        """Role names (Django groups that are roles), sorted; uses prefetched groups if any,
        and is read once per instance (the roles service drops the cache when it changes
        them; nothing else may change them)."""
        cached = self.__dict__.get("_roles_cache")
        if cached is None:
            valid = set(Role.values)
            cached = sorted(group.name for group in self.groups.all() if group.name in valid)
            self.__dict__["_roles_cache"] = cached
        return list(cached)

    def remember_roles(self, names) -> None:
        """Fill the roles cache from group names read with other rows (the access check reads
        them in its one statement): the same answer as ``roles``, without its query."""
        if "_roles_cache" not in self.__dict__:
            valid = set(Role.values)
            self.__dict__["_roles_cache"] = sorted(name for name in names if name in valid)

    def has_role(self, *roles: str) -> bool:
        return bool(set(self.roles) & set(roles))


class ServiceAccount(models.Model):
    """A training job's identity: an OAuth2 client-credentials application owned by a person."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True, default="")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_account"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_service_accounts"
    )
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        related_name="service_account",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Empty when created from the command line.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | ~models.Q(revoked_reason=""),
                name="accounts_serviceaccount_revocation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def client_id(self) -> str:
        return self.application.client_id


class RecoveryCode(models.Model):
    """One single-use recovery code for the second factor, stored only as a keyed digest
    (HMAC-SHA256 under SECRET_KEY): the codes are shown once, when they are made."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="accounts_recovery_code_once")
        ]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of {self.user_id}"


class ServiceAccountRequest(models.Model):
    """A person asks an administrator for a service account for a job they will own; the
    administrator creates it (the request then names it) or declines with a reason."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for an administrator"
        CREATED = "created", "Created"
        DECLINED = "declined", "Declined"

    name = models.SlugField(max_length=64)
    description = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_account_requests"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    service_account = models.OneToOneField(
        ServiceAccount,
        on_delete=models.PROTECT,
        related_name="request",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(status="pending"),
                name="accounts_sa_request_one_pending_per_name",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="created") | models.Q(service_account__isnull=False),
                name="accounts_sa_request_created_names_account",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="declined") | ~models.Q(decision_reason=""),
                name="accounts_sa_request_declined_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"service account request {self.name}"
