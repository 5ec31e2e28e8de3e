import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from governance.access import leases
from governance.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Manage the keys that sign access leases (ACCESS_LEASE_KEY_FILE). `show` prints the "
        "public key set; `rotate` adds a new signing key and keeps the old ones so their leases "
        "still verify; `retire KID` removes an old key once its leases have expired."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("show", help="print the public JWK Set, signing key first")
        actions.add_parser("rotate", help="prepend a new signing key; keep the others")
        retire = actions.add_parser("retire", help="remove a key that no longer signs")
        retire.add_argument(
            "kid",
            help="the key id, as printed by `show` (a kid may start with '-': put -- before it)",
        )
        retire.add_argument(
            "--force",
            action="store_true",
            help="retire even though leases it signed may not have expired yet "
            "(they stop verifying at once)",
        )

    def handle(self, *args, action, **options):
        try:
            if action == "show":
                self.stdout.write(json.dumps(leases.jwks(), indent=2))
            elif action == "rotate":
                kid = leases.lease_key_rotate(actor=None)
                self.stdout.write(f"New signing key: {kid}")
                self.stdout.write(
                    "The previous keys stay published; retire each once the longest lease it "
                    "signed has expired."
                )
            elif action == "retire":
                leases.lease_key_retire(kid=options["kid"], actor=None, force=options["force"])
                self.stdout.write(f"Retired key: {options['kid']}")
        except ApplicationError as error:
            raise CommandError(error.message) from None
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
