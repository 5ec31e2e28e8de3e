import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from governance.audit import chain


class Command(BaseCommand):
    help = (
        "Manage the keys that sign ledger checkpoints (AUDIT_CHECKPOINT_KEY_FILE). `show` prints "
        "the public key set to give to auditors; `rotate` adds a new signing key and keeps the "
        "old ones, which must never be removed (old checkpoints must keep verifying)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("show", help="print the public JWK Set, signing key first")
        actions.add_parser("rotate", help="prepend a new signing key; keep the others")

    def handle(self, *args, action, **options):
        try:
            if action == "show":
                self.stdout.write(json.dumps(chain.checkpoint_public_keys(), indent=2))
            else:
                self.stdout.write(f"New checkpoint signing key: {chain.checkpoint_key_rotate()}")
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
