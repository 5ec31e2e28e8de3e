"""Per-purpose pseudonymization secrets (docs/training-jobs.md).

manage.py pseudonym_keys show                 # purposes, versions, master key of each
manage.py pseudonym_keys rotate PURPOSE       # a new secret; the old one stays usable for
                                              # PSEUDONYM_KEY_GRACE_DAYS
manage.py pseudonym_keys reencrypt            # every secret under the first master key
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from governance.access import pseudonyms
from governance.access.models import PurposeKey


class Command(BaseCommand):
    help = "Show, rotate or re-encrypt the per-purpose pseudonymization secrets."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show")
        rotate = sub.add_parser("rotate")
        rotate.add_argument("purpose")
        sub.add_parser("reencrypt")

    def handle(self, *args, action: str, **options):
        if action == "show":
            for row in PurposeKey.objects.order_by("purpose_slug", "-version"):
                state = "current" if row.superseded_at is None else f"since {row.superseded_at:%F}"
                self.stdout.write(
                    f"{row.purpose_slug} v{row.version} ({state}) master={row.master_kid}"
                )
        elif action == "rotate":
            slug = options["purpose"]
            if not slug or not slug.replace("-", "").replace("_", "").isalnum():
                raise CommandError(f"{slug!r} is not a purpose slug.")
            row = pseudonyms.purpose_key_rotate(purpose_slug=slug)
            self.stdout.write(
                f"{slug}: version {row.version} is current; version {row.version - 1} stays "
                f"usable for {pseudonyms.grace().days} days."
            )
        else:
            changed = pseudonyms.purpose_keys_reencrypt()
            kid = next(iter(pseudonyms.master_keys()))
            self.stdout.write(f"{changed} secret(s) re-encrypted under master key {kid!r}.")
