from django.core.management.base import BaseCommand, CommandError

from consent.services.grants import CAPABILITIES, service_account_consent_grant
from governance.accounts.models import ServiceAccount
from governance.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Let a service account record consent events (--record: a source system) and/or filter "
        "and export subjects with valid consent (--query: a training job). --revoke removes."
    )

    def add_arguments(self, parser):
        parser.add_argument("service_account", help="The service account's name")
        parser.add_argument("--record", action="store_true", help="consent.add_consentevent")
        parser.add_argument("--query", action="store_true", help="consent.query_consent")
        parser.add_argument("--revoke", action="store_true", help="Remove instead of grant")

    def handle(self, *args, service_account, record, query, revoke, **options):
        capabilities = [name for name, on in (("record", record), ("query", query)) if on]
        if not capabilities:
            raise CommandError(f"Name at least one of: {', '.join('--' + c for c in CAPABILITIES)}")
        account = ServiceAccount.objects.filter(name=service_account).first()
        if account is None:
            raise CommandError(f"No service account named {service_account!r}.")
        try:
            held = service_account_consent_grant(
                service_account=account, capabilities=capabilities, actor=None, revoke=revoke
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"{account.name}: consent permissions now {', '.join(sorted(held)) or 'none'}"
        )
